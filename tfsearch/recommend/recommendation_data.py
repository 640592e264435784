"""A recommendation folder: a BEIR-style item corpus and the interactions with its items."""

import pathlib

from tfsearch.data.beir import BeirFormatError, iter_corpus
from tfsearch.recommend.interactions import InteractionsFormatError, interactions_path, read_interactions


class RecommendationData:
    """Items (`corpus.jsonl`, BEIR documents) and interactions (`interactions.tsv` or `.jsonl`).

    Args:
        path: the folder.

    Example:
    ```python
    data = RecommendationData("data/ml-100k-tfsearch")   # tfsearch recommend convert-movielens
    items = data.items()                # {item_id: Document}, metadata {"genre": [...]}
    interactions = data.interactions()  # [Interaction(user_id, item_id, timestamp, rating)]
    ```
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)
        if not self.path.is_dir():
            raise InteractionsFormatError("not a folder; expected corpus.jsonl and interactions.tsv", self.path)
        if not (self.path / "corpus.jsonl").is_file():
            raise BeirFormatError("missing corpus.jsonl (the item corpus)", self.path)
        self._items = None
        self._interactions = None

    @property
    def corpus_path(self):
        return self.path / "corpus.jsonl"

    @property
    def interactions_path(self):
        return interactions_path(self.path)

    def items(self):
        """`{item_id: Document}` (validated; cached)."""
        if self._items is None:
            self._items = {doc.id: doc for doc in iter_corpus(self.corpus_path)}
        return self._items

    def interactions(self):
        """Every `Interaction`, validated against the item ids (cached)."""
        if self._interactions is None:
            self._interactions = read_interactions(self.interactions_path, item_ids=set(self.items()))
        return self._interactions

    def aspects(self, field="genre"):
        """`{item_id: [aspect, ...]}` from an item metadata field (items without it are left out)."""
        aspects = {}
        for item_id, doc in self.items().items():
            value = doc.metadata.get(field)
            if value in (None, "", []):
                continue
            aspects[item_id] = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        return aspects
