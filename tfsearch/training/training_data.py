"""Training pairs from BEIR judgements: the validation carve-out, hard negatives, and the tf.data input."""

import dataclasses
import json

import numpy as np
import tensorflow as tf

from tfsearch.utils.atomic import atomic_write_text


@dataclasses.dataclass
class TrainingPairs:
    """(query, relevant document) pairs, with optional hard negatives per pair.

    Attributes:
        query_ids, queries, document_ids, documents: lists of str `[num_pairs]`.
        hard_negative_ids, hard_negatives: lists of lists of str
            `[num_pairs][num_negatives]`, or None.
    """

    query_ids: list
    queries: list
    document_ids: list
    documents: list
    hard_negative_ids: list = None
    hard_negatives: list = None

    def __len__(self):
        return len(self.query_ids)

    def dataset(self, batch_size, seed=0, shuffle=True, transform=None):
        """A `tf.data.Dataset` of `TwoTower` feature dicts, batched with `drop_remainder=True`.

        The same seed gives the same order on every worker (required when a
        multi-worker strategy shards the batches). `batch_size` is the global
        batch; a strategy splits it across replicas. `transform` maps each
        batch (e.g. `tokenize_features` for XLA).
        """
        if len(self) < batch_size:
            raise ValueError(f"{len(self)} training pairs are fewer than one batch of {batch_size}.")
        features = {"query": self.queries, "document": self.documents, "document_id": self.document_ids}
        if self.hard_negatives is not None:
            features["hard_negatives"] = self.hard_negatives
            features["hard_negative_ids"] = self.hard_negative_ids
        dataset = tf.data.Dataset.from_tensor_slices({k: tf.constant(v, tf.string) for k, v in features.items()})
        if shuffle:
            dataset = dataset.shuffle(len(self), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size, drop_remainder=True)
        if transform is not None:
            dataset = dataset.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        options.deterministic = True
        return dataset.with_options(options)

    def steps_per_epoch(self, batch_size):
        return len(self) // batch_size


def split_queries(qrels, validation_fraction=0.1, seed=0):
    """Carves validation queries out of training judgements, by query.

    Returns:
        `(train_qrels, validation_qrels)`, both `{query_id: {doc_id: score}}`;
        a query's judgements all land on the same side.
    """
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"`validation_fraction` must be in [0, 1), got {validation_fraction!r}.")
    query_ids = sorted(qrels)
    order = np.random.default_rng(seed).permutation(len(query_ids))
    num_validation = int(round(validation_fraction * len(query_ids)))
    if validation_fraction > 0 and num_validation == 0:
        num_validation = 1
    validation = {query_ids[i] for i in order[:num_validation]}
    return ({q: qrels[q] for q in query_ids if q not in validation},
            {q: qrels[q] for q in query_ids if q in validation})


def training_pairs(qrels, queries, corpus, hard_negatives=None, num_hard_negatives=0):
    """One pair per relevant judgement (score > 0).

    Args:
        qrels: `{query_id: {doc_id: score}}`.
        queries: `{query_id: Query}`.
        corpus: `{doc_id: Document}`.
        hard_negatives: `{query_id: [doc_id, ...]}` or None (`mine_hard_negatives`).
        num_hard_negatives: negatives kept per pair (the first ones); queries
            with fewer are topped up by cycling through theirs.

    Returns:
        `TrainingPairs`.
    """
    pairs = TrainingPairs([], [], [], [], [] if num_hard_negatives else None, [] if num_hard_negatives else None)
    for query_id in sorted(qrels):
        for doc_id, score in sorted(qrels[query_id].items()):
            if score <= 0:
                continue
            if num_hard_negatives:
                negatives = (hard_negatives or {}).get(query_id) or []
                if not negatives:
                    continue  # nothing to contrast with: left out rather than padded with random text
                chosen = [negatives[i % len(negatives)] for i in range(num_hard_negatives)]
                pairs.hard_negative_ids.append(chosen)
                pairs.hard_negatives.append([corpus[d].contents() for d in chosen])
            pairs.query_ids.append(query_id)
            pairs.queries.append(queries[query_id].text)
            pairs.document_ids.append(doc_id)
            pairs.documents.append(corpus[doc_id].contents())
    if not pairs.query_ids:
        raise ValueError("No training pairs: the split has no positive judgements"
                         + (" with mined hard negatives." if num_hard_negatives else "."))
    return pairs


def mine_hard_negatives(query_encoder, document_embeddings, document_ids, qrels, queries, num_negatives=4,
                        skip_top=3, depth=30, batch_size=64, progress=False):
    """Top-ranked unjudged documents of each training query, by the current model and exact search.

    The first `skip_top` unjudged documents of each ranking are skipped: near
    the top, an unjudged document is often relevant but unlabelled (a false
    negative), which would teach the model the wrong thing.

    Args:
        query_encoder: `BertEncoder` for the queries.
        document_embeddings: float `[num_documents, dim]` (the document tower's).
        document_ids: list of str `[num_documents]`.
        qrels: `{query_id: {doc_id: score}}` (positives are never negatives).
        queries: `{query_id: Query}`.
        num_negatives: negatives kept per query.
        skip_top: unjudged documents skipped at the top of each ranking.
        depth: ranks searched per query.

    Returns:
        `{query_id: [doc_id, ...]}`, best-ranked first.
    """
    from tfsearch.index.brute_force_index import BruteForceIndex
    from tfsearch.models.batch_encoding import encode_texts

    query_ids = sorted(q for q in qrels if q in queries)
    index = BruteForceIndex(k=depth).index(document_embeddings, document_ids)
    embeddings = encode_texts(query_encoder, [queries[q].text for q in query_ids], batch_size=batch_size,
                              progress=progress, description="mining hard negatives")
    _, ranked = index.search(embeddings, k=min(depth, len(document_ids)))
    mined = {}
    for query_id, ranking in zip(query_ids, ranked):
        judged = qrels[query_id]
        unjudged = [d for d in ranking if d not in judged]
        mined[query_id] = unjudged[skip_top : skip_top + num_negatives]
    return mined


def write_hard_negatives(path, mined):
    """Writes `{query_id: [doc_id, ...]}` as JSON lines (`{"query_id": ..., "negatives": [...]}`), atomically."""
    lines = [json.dumps({"query_id": q, "negatives": mined[q]}) for q in sorted(mined)]
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


def read_hard_negatives(path):
    mined = {}
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            if line.strip():
                try:
                    record = json.loads(line)
                    mined[str(record["query_id"])] = [str(d) for d in record["negatives"]]
                except (ValueError, KeyError, TypeError) as e:
                    raise ValueError(f"{path}:{line_number}: not a hard-negative record ({e})") from None
    return mined
