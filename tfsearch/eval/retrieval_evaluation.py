"""End-to-end retrieval evaluation on a BEIR split: encode, search, score, write."""

import dataclasses
import json
import math
import pathlib
import time

import numpy as np

from tfsearch.data.beir import BeirDataset
from tfsearch.eval.diversity_metrics import aspect_labels, aspect_metrics, intra_list_diversity
from tfsearch.eval.metrics import DEFAULT_MEASURES, evaluate_run
from tfsearch.eval.trec import write_trec_run
from tfsearch.index.corpus_index import encode_corpus_index
from tfsearch.models.batch_encoding import encode_texts
from tfsearch.utils.atomic import atomic_write_text


@dataclasses.dataclass
class EvaluationResult:
    """Metrics, the run they were computed from, and facts about the run."""

    metrics: dict
    run: dict
    info: dict

    def format_table(self):
        width = max(len(name) for name in self.metrics)
        lines = [f"{'measure':<{width}}  value", f"{'-' * width}  ------"]
        lines += [f"{name:<{width}}  {value:.4f}" for name, value in self.metrics.items()]
        return "\n".join(lines)


def run_from_search(query_ids, scores, doc_ids):
    """Builds a run from `search` results, leaving out empty slots (id `""` or score `-inf`).

    Args:
        query_ids: sequence of str `[num_queries]`.
        scores: float array-like `[num_queries, k]`.
        doc_ids: `[num_queries, k]` document ids (str), best first.

    Returns:
        `{query_id: {doc_id: score}}`.

    Example:
    ```python
    run_from_search(["q1"], [[0.9, float("-inf")]], [["d1", ""]])
    # {"q1": {"d1": 0.9}}
    ```
    """
    query_ids = list(query_ids)
    if len(query_ids) != len(scores) or len(query_ids) != len(doc_ids):
        raise ValueError(f"{len(query_ids)} query ids but {len(scores)} score rows and {len(doc_ids)} id rows.")
    return {query_id: {doc_id: float(score) for doc_id, score in zip(row_ids, row_scores)
                       if doc_id and not math.isinf(float(score))}
            for query_id, row_ids, row_scores in zip(query_ids, doc_ids, scores)}


def evaluate_retrieval(encoder, data, split="test", output_dir=None, top_k=1000, measures=DEFAULT_MEASURES,
                       batch_size=64, progress=True, index=None, qrels=None, aspect_field=None, diversity_k=10,
                       document_encoder=None):
    """Evaluates dense retrieval with `encoder` on a BEIR split.

    Args:
        encoder: `BertEncoder` for the queries, and the documents unless
            `document_encoder` is given (two-tower models with separate towers).
        data: `BeirDataset` or a BEIR folder.
        split: str. The qrels split.
        output_dir: folder for `run.trec`, `metrics.json` and `info.json`, or None.
        top_k: int. Results retrieved per query.
        measures: measure names for ir-measures.
        batch_size: int. Texts per forward pass.
        progress: bool. Progress bars.
        index: an already built index over this corpus and encoder (skips
            corpus encoding), or None to build an exact one.
        qrels: the split's judgements if already loaded (and validated), or None.
        aspect_field: document metadata field with aspect labels (e.g.
            `subtopic`), or None. Adds alpha-nDCG@diversity_k and coverage@diversity_k.
        diversity_k: int. Cut-off of the diversity metrics: ILD (always
            reported) and the aspect metrics.
        document_encoder: `BertEncoder` for the corpus, or None (`encoder`).

    Returns:
        `EvaluationResult`.
    """
    data = data if isinstance(data, BeirDataset) else BeirDataset(data)
    qrels = data.qrels(split) if qrels is None else qrels
    all_queries = data.queries()
    queries = {qid: all_queries[qid] for qid in qrels if qid in all_queries}
    info = {"data": str(data.path), "split": split, "top_k": top_k, "num_queries": len(queries)}
    aspects_of = aspect_labels(data, aspect_field) if aspect_field else None  # fail fast on a wrong field

    if index is None:
        index = encode_corpus_index(document_encoder or encoder, data, k=top_k, batch_size=batch_size,
                                    progress=progress, info=info)
    info["num_documents"] = index.num_documents

    query_ids = list(queries)
    start = time.perf_counter()
    query_embeddings = encode_texts(encoder, [queries[q].text for q in query_ids], batch_size=batch_size,
                                    progress=progress, description="encoding queries")
    scores, ranked_ids = index.search(query_embeddings, k=top_k)
    info["query_seconds"] = round(time.perf_counter() - start, 2)

    run = run_from_search(query_ids, scores, ranked_ids)
    metrics = evaluate_run(qrels, run, measures)
    metrics.update(_diversity_metrics(index, qrels, run, ranked_ids, aspects_of, diversity_k))
    result = EvaluationResult(metrics=metrics, run=run, info=info)
    if output_dir is not None:
        write_evaluation(result, output_dir)
    return result


def _diversity_metrics(index, qrels, run, ranked_ids, aspects_of, k):
    """ILD@k of the returned lists (when the index keeps embeddings), plus alpha-nDCG@k and coverage@k
    when aspects are named."""
    metrics = {}
    if index.embeddings is not None:  # indexes saved before embeddings were kept have none
        row_of = {doc_id: row for row, doc_id in enumerate(index.identifiers)}
        embeddings = np.asarray(index.embeddings)  # a tensor (exact index) or a memory map (ScaNN)
        lists = (embeddings[[row_of[d] for d in ids[:k]]] for ids in ranked_ids)
        metrics[f"ILD@{k}"] = intra_list_diversity(lists, k=k)
    if aspects_of is not None:
        metrics.update(aspect_metrics(qrels, aspects_of, run, k=k))
    return metrics


def write_evaluation(result, output_dir):
    """Writes `run.trec`, `metrics.json` and `info.json`, each atomically."""
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_trec_run(result.run, output_dir / "run.trec")
    atomic_write_text(output_dir / "info.json", json.dumps(result.info, indent=2) + "\n")
    # metrics.json last: its presence means the evaluation is complete.
    atomic_write_text(output_dir / "metrics.json", json.dumps(result.metrics, indent=2) + "\n")
