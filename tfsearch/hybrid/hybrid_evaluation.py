"""Dense, lexical (BM25) and fused retrieval evaluated side by side on a BEIR split, in one run."""

import dataclasses
import json
import pathlib
import time

from tfsearch.data.beir import BeirDataset
from tfsearch.eval.metrics import DEFAULT_MEASURES, evaluate_run, parse_measures
from tfsearch.eval.retrieval_evaluation import EvaluationResult, run_from_search, write_evaluation
from tfsearch.hybrid.bm25_retriever import BM25Retriever
from tfsearch.hybrid.query_expansion import search_with_feedback
from tfsearch.hybrid.rank_fusion import linear_fusion, reciprocal_rank_fusion
from tfsearch.hybrid.runs import truncate_run
from tfsearch.index.corpus_index import encode_corpus_index
from tfsearch.models.batch_encoding import encode_texts
from tfsearch.utils.atomic import atomic_write_text

FUSIONS = ("rrf", "linear")
# Run name -> output sub-folder.
RUN_FOLDERS = {"dense": "dense", "dense+prf": "dense_prf", "bm25": "bm25", "fused": "fused"}


@dataclasses.dataclass
class HybridEvaluationResult:
    """Metrics of each run (`{run_name: {measure: value}}`), the runs, and facts about them.

    Run names: `"dense"`, `"dense+prf"` (with pseudo-relevance feedback),
    `"bm25"` and `"fused"` (the fusion of BM25 with the dense run, with PRF
    when it is on).
    """

    metrics: dict
    runs: dict
    info: dict

    def format_table(self):
        names = list(self.metrics)
        measures = list(next(iter(self.metrics.values())))
        width = max(len("measure"), *(len(m) for m in measures))
        columns = [max(len(n), 6) for n in names]
        lines = [f"{'measure':<{width}}  " + "  ".join(f"{n:>{c}}" for n, c in zip(names, columns)),
                 f"{'-' * width}  " + "  ".join("-" * c for c in columns)]
        for measure in measures:
            lines.append(f"{measure:<{width}}  " + "  ".join(
                f"{self.metrics[n][measure]:>{c}.4f}" for n, c in zip(names, columns)))
        return "\n".join(lines)


def evaluate_hybrid(encoder, data, split="test", fusion="rrf", rrf_k=60, fusion_weight=0.5, prf_documents=0,
                    prf_beta=0.5, output_dir=None, top_k=1000, measures=DEFAULT_MEASURES, batch_size=64,
                    progress=True, index=None, qrels=None, document_encoder=None, bm25=None):
    """Evaluates dense, BM25 and fused retrieval (and dense with pseudo-relevance feedback) on a BEIR split.

    The dense run is exact search with `encoder` (or through `index`); the
    lexical run is `BM25Retriever` over each document's title and text; the
    fused run combines the two top-`top_k` lists by reciprocal-rank fusion
    (`reciprocal_rank_fusion`, `rrf_k`) or by a convex combination of scores
    min-max normalised per query (`linear_fusion`, `fusion_weight` = the
    dense share). With `prf_documents > 0` the dense queries are also expanded
    with their top `prf_documents` documents (`PseudoRelevanceFeedback`,
    `prf_beta`) and searched again: that run is reported as `dense+prf` and is
    the one fused.

    Args:
        encoder: `BertEncoder` of the queries (and the documents unless
            `document_encoder` is given).
        data: `BeirDataset` or a BEIR folder.
        split: str. The qrels split.
        fusion: `"rrf"`, `"linear"` or None (no BM25: dense and dense+prf
            only; needs `prf_documents > 0`).
        rrf_k: float >= 0. RRF's constant. Defaults to 60.
        fusion_weight: float in [0, 1]. Dense share of `"linear"`. Defaults to 0.5.
        prf_documents: int >= 0. Feedback documents `m` (0: no expansion).
        prf_beta: float in [0, 1]. Weight of the feedback centroid.
        output_dir: folder or None. Each run's `run.trec`, `metrics.json` and
            `info.json` go to `dense/`, `dense_prf/`, `bm25/`, `fused/`; then
            `info.json` and `metrics.json` (all runs: `{run: {measure: value}}`,
            written last) at the top. Every file is written atomically.
        top_k: int. Results per query of every run.
        measures: measure names for ir-measures.
        batch_size: int. Texts per forward pass.
        progress: bool. Progress bars.
        index: an already built dense index over this corpus and encoder, or
            None to build an exact one.
        qrels: the split's judgements if already loaded, or None.
        document_encoder: `BertEncoder` of the corpus, or None (`encoder`).
        bm25: an indexed `BM25Retriever` over this corpus, or None to build
            one with the default settings.

    Returns:
        `HybridEvaluationResult`.

    Example:
    ```python
    result = evaluate_hybrid(BertEncoder.from_pretrained(), "path/to/scifact", fusion="rrf")
    print(result.format_table())   # columns dense, bm25, fused
    ```
    """
    if fusion not in (None, *FUSIONS):
        raise ValueError(f"`fusion` must be one of {FUSIONS} or None, got {fusion!r}.")
    if isinstance(prf_documents, bool) or int(prf_documents) != prf_documents or prf_documents < 0:
        raise ValueError(f"`prf_documents` must be an integer >= 0 (0: no query expansion), got {prf_documents!r}.")
    if not 0.0 <= float(prf_beta) <= 1.0:
        raise ValueError(f"`prf_beta` must be in [0, 1], got {prf_beta!r}.")
    if fusion is None and not prf_documents:
        raise ValueError("Nothing beyond dense retrieval was asked for: give a `fusion` method or `prf_documents` > 0.")
    if fusion == "rrf" and not rrf_k >= 0:
        raise ValueError(f"`rrf_k` must be a number >= 0, got {rrf_k!r}.")
    if fusion == "linear" and not 0.0 <= float(fusion_weight) <= 1.0:
        raise ValueError(f"`fusion_weight` must be in [0, 1], got {fusion_weight!r}.")
    parse_measures(measures)
    data = data if isinstance(data, BeirDataset) else BeirDataset(data)
    qrels = data.qrels(split) if qrels is None else qrels
    all_queries = data.queries()
    query_ids = [qid for qid in qrels if qid in all_queries]
    texts = [all_queries[q].text for q in query_ids]
    info = {"data": str(data.path), "split": split, "top_k": top_k, "num_queries": len(query_ids),
            "fusion": fusion, "rrf_k": rrf_k if fusion == "rrf" else None,
            "fusion_weight": fusion_weight if fusion == "linear" else None,
            "prf_documents": int(prf_documents), "prf_beta": float(prf_beta) if prf_documents else None}

    if index is None:
        index = encode_corpus_index(document_encoder or encoder, data, k=top_k, batch_size=batch_size,
                                    progress=progress, info=info)
    info["num_documents"] = index.num_documents
    top_k = min(top_k, index.num_documents)

    start = time.perf_counter()
    query_embeddings = encode_texts(encoder, texts, batch_size=batch_size, progress=progress,
                                    description="encoding queries")
    scores, ids = index.search(query_embeddings, k=top_k)
    runs = {"dense": run_from_search(query_ids, scores, ids)}
    info["dense_seconds"] = round(time.perf_counter() - start, 2)
    if prf_documents:
        start = time.perf_counter()
        scores, ids, _ = search_with_feedback(index, query_embeddings, top_k, prf_documents, prf_beta)
        runs["dense+prf"] = run_from_search(query_ids, scores, ids)
        info["prf_seconds"] = round(time.perf_counter() - start, 2)
    if fusion is not None:
        start = time.perf_counter()
        if bm25 is None:
            corpus_ids, contents = zip(*((doc.id, doc.contents()) for doc in data.iter_corpus()))
            bm25 = BM25Retriever().index(corpus_ids, contents)
        info["bm25"] = bm25.get_config()
        scores, ids = bm25.search(texts, k=top_k)
        runs["bm25"] = run_from_search(query_ids, scores, ids)
        info["bm25_seconds"] = round(time.perf_counter() - start, 2)
        dense = runs.get("dense+prf", runs["dense"])
        if fusion == "rrf":
            fused = reciprocal_rank_fusion([dense, runs["bm25"]], k=rrf_k)
        else:
            fused = linear_fusion(dense, runs["bm25"], weight=fusion_weight)
        runs["fused"] = truncate_run(fused, top_k)

    metrics = {name: evaluate_run(qrels, run, measures) for name, run in runs.items()}
    result = HybridEvaluationResult(metrics=metrics, runs=runs, info=info)
    if output_dir is not None:
        write_hybrid_evaluation(result, output_dir)
    return result


def write_hybrid_evaluation(result, output_dir):
    """Writes each run to its folder (`run.trec`, `info.json`, `metrics.json`), then the summary files.

    Every file is written atomically; the top `metrics.json` comes last, so its
    presence means the whole evaluation is complete.
    """
    output_dir = pathlib.Path(output_dir)
    for name, run in result.runs.items():
        write_evaluation(EvaluationResult(metrics=result.metrics[name], run=run, info={**result.info, "run": name}),
                         output_dir / RUN_FOLDERS[name])
    atomic_write_text(output_dir / "info.json", json.dumps(result.info, indent=2) + "\n")
    atomic_write_text(output_dir / "metrics.json", json.dumps(result.metrics, indent=2) + "\n")
