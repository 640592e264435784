"""An LRU cache of search results for one served version, keyed by the normalised query, `k` and `diversity`."""

import collections
import threading
import unicodedata

from tfsearch.utils.arguments import check_integer


def normalise_query(text):
    """The cache's form of a query: Unicode NFC, runs of whitespace as one space, no leading or trailing space.

    Only differences the encoder's tokeniser cannot see are removed (it
    splits on whitespace and the model's vocabulary is NFC), so two queries
    with one normalised form get the same results. Case is kept: whether it
    matters is the model's business.

    Example:
    ```python
    normalise_query("  covid\tvaccines ")  # "covid vaccines"
    ```
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


class ResultCache:
    """Least-recently-used cache of one query's search results, thread-safe.

    The cache belongs to one served version at a time (its `owner`, the
    `LoadedVersion`): a lookup or store for another version first empties it,
    and a result computed on an older version than the cache's owner is not
    stored, so a new version never serves an old version's answers.

    Args:
        capacity: int >= 1, the most entries kept.

    Attributes:
        hits, misses: ints, lookups answered and not answered since creation.

    Example:
    ```python
    cache = ResultCache(10_000)
    row = cache.get(loaded, "covid vaccines", 10, 0.3)  # None: a miss
    cache.put(loaded, "covid vaccines", 10, 0.3, {"ids": ..., "scores": ..., "positions": ...})
    cache.hit_rate  # 0.0: one lookup, no hit
    ```
    """

    def __init__(self, capacity):
        self.capacity = check_integer(capacity, "capacity")
        self.hits = 0
        self.misses = 0
        self._entries = collections.OrderedDict()
        self._owner = None
        self._lock = threading.Lock()

    def __len__(self):
        return len(self._entries)

    @property
    def hit_rate(self):
        """Hits over lookups since creation (0.0 before the first lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def _own(self, loaded):
        if loaded is not self._owner:
            self._entries.clear()
            self._owner = loaded

    def get(self, loaded, query, k, diversity):
        """The row stored for `(query, k, diversity)` on `loaded`, or None (counted as a hit or a miss)."""
        key = (normalise_query(query), int(k), float(diversity))
        with self._lock:
            self._own(loaded)
            row = self._entries.get(key)
            if row is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return row

    def put(self, loaded, query, k, diversity, row):
        """Stores one query's result row (a dict of arrays); a result of an older version is dropped."""
        key = (normalise_query(query), int(k), float(diversity))
        with self._lock:
            if self._owner is not None and loaded is not self._owner and loaded.version <= self._owner.version:
                return
            self._own(loaded)
            self._entries[key] = row
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
