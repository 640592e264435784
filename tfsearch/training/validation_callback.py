"""Validation nDCG@10 at the end of each epoch, with exact search, as a Keras callback."""

import tensorflow as tf


class ValidationRetrieval(tf.keras.callbacks.Callback):
    """Encodes validation queries and a corpus with the model's towers and adds `val_ndcg@10` (and more) to the logs.

    Put it before `EarlyStopping`, `TensorBoard` and best-model callbacks in the
    callback list: they read the value it writes into `logs`.

    Args:
        queries: `{query_id: Query}` (validation queries).
        qrels: `{query_id: {doc_id: score}}` (validation judgements).
        document_ids: list of str, the corpus searched.
        documents: list of str, their texts.
        measures: ir-measures names; logged as `val_` + lower case.
        batch_size: texts per forward pass.
        on_improvement: optional callable `(epoch, logs)` run when the
            first measure improves (e.g. saving the best model).
        progress: bool. Progress bars while encoding.

    `history` lists the measures per epoch, starting with epoch 0 (before
    training) unless training resumed from a backup.
    """

    def __init__(self, queries, qrels, document_ids, documents, measures=("nDCG@10", "R@100"), batch_size=64,
                 on_improvement=None, progress=False):
        super().__init__()
        self.query_ids = sorted(q for q in qrels if q in queries)
        self.query_texts = [queries[q].text for q in self.query_ids]
        self.qrels = {q: qrels[q] for q in self.query_ids}
        self.document_ids = list(document_ids)
        self.documents = list(documents)
        self.measures = list(measures)
        self.batch_size = batch_size
        self.on_improvement = on_improvement
        self.progress = progress
        self.best = None
        self.history = []

    @property
    def monitor(self):
        return "val_" + self.measures[0].lower()

    def evaluate(self):
        from tfsearch.eval.metrics import evaluate_run
        from tfsearch.eval.retrieval_evaluation import run_from_search
        from tfsearch.index.brute_force_index import BruteForceIndex
        from tfsearch.models.batch_encoding import encode_texts

        documents = encode_texts(self.model.document_tower, self.documents, batch_size=self.batch_size,
                                 progress=self.progress, description="validation corpus")
        queries = encode_texts(self.model.query_encoder, self.query_texts, batch_size=self.batch_size)
        index = BruteForceIndex(k=100).index(documents, self.document_ids)
        scores, ranked = index.search(queries, k=min(100, len(self.document_ids)))
        return evaluate_run(self.qrels, run_from_search(self.query_ids, scores, ranked), self.measures)

    def on_epoch_begin(self, epoch, logs=None):
        # The starting point, for the report (epoch 0); not a candidate for
        # the best model, which is always a trained one. Skipped on resume
        # (checked here, after BackupAndRestore restored the step at train begin).
        if not self.history and int(self.model.optimizer.iterations.numpy()) == 0:
            self.history.append({"epoch": 0, **self.evaluate()})

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        metrics = self.evaluate()
        for name, value in metrics.items():
            logs["val_" + name.lower()] = value
        value = metrics[self.measures[0]]
        self.history.append({"epoch": epoch + 1, **metrics})
        if self.best is None or value > self.best:
            self.best = value
            if self.on_improvement is not None:
                self.on_improvement(epoch, logs)
