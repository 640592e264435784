"""The relevance/diversity trade-off: re-rank a BEIR split at several balances and measure each."""

import dataclasses
import json
import pathlib
import time

import numpy as np

from tfsearch.data.beir import BeirDataset
from tfsearch.eval.diversity_metrics import aspect_labels, aspect_metrics, intra_list_diversity
from tfsearch.eval.metrics import evaluate_run
from tfsearch.eval.trec import write_trec_run
from tfsearch.index.corpus_index import encode_corpus_index
from tfsearch.models.batch_encoding import encode_texts
from tfsearch.utils.atomic import atomic_file, atomic_write_text

DEFAULT_DIVERSITIES = tuple(round(0.1 * i, 1) for i in range(11))


@dataclasses.dataclass
class TradeoffConfig:
    """What to sweep.

    Attributes:
        method: re-ranking method of `DiversityReranker` (`mmr`, `dpp`, `aspects`).
        diversities: balances to evaluate, each in [0, 1].
        candidates: results retrieved exactly per query and handed to the re-ranker.
        k: length of the re-ranked list, and the cut-off of every metric.
        aspect_field: document metadata field holding aspect labels (e.g.
            `subtopic`, `genre`), or None. Enables alpha-nDCG@k and coverage@k,
            and is needed by `method="aspects"`.
        batch_size: queries re-ranked per call.
    """

    method: str = "mmr"
    diversities: tuple = DEFAULT_DIVERSITIES
    candidates: int = 100
    k: int = 10
    aspect_field: str = None
    batch_size: int = 256

    def __post_init__(self):
        from tfsearch.layers.diversity_reranker import METHODS

        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}, got {self.method!r}.")
        if not self.diversities or any(not 0.0 <= d <= 1.0 for d in self.diversities):
            raise ValueError(f"`diversities` must be values in [0, 1], got {self.diversities!r}.")
        if self.k < 1 or self.candidates < self.k:
            raise ValueError(f"`k` and `candidates` must satisfy 1 <= k <= candidates, got k={self.k}, "
                             f"candidates={self.candidates}.")
        if self.method == "aspects" and not self.aspect_field:
            raise ValueError('method="aspects" needs an aspect field (`aspect_field`, a document metadata field), e.g. '
                             "--aspect-field genre.")


@dataclasses.dataclass
class TradeoffResult:
    """One row of metrics per balance, plus facts about the sweep.

    Attributes:
        rows: list of `{"diversity": d, "nDCG@10": ..., "ILD@10": ..., ...}`.
        runs: `{diversity: run}`, each run `{query_id: {doc_id: score}}` with
            scores that preserve the re-ranked order.
        info: facts (data, method, candidates, timings, whether diversity 0
            reproduced the retrieval order exactly, the +10% ILD point).
    """

    rows: list
    runs: dict
    info: dict

    @property
    def measures(self):
        return [name for name in self.rows[0] if name != "diversity"]

    def format_table(self, markdown=False):
        names = ["diversity", *self.measures]
        lines = []
        if markdown:
            lines.append("| " + " | ".join(names) + " |")
            lines.append("|" + "|".join("---:" for _ in names) + "|")
            for row in self.rows:
                lines.append("| " + " | ".join(f"{row[n]:.4f}" if n != "diversity" else f"{row[n]:g}"
                                               for n in names) + " |")
        else:
            widths = [max(len(n), 9) for n in names]
            lines.append("  ".join(f"{n:>{w}}" for n, w in zip(names, widths)))
            for row in self.rows:
                lines.append("  ".join(f"{row[n]:>{w}.4f}" if n != "diversity" else f"{row[n]:>{w}g}"
                                       for n, w in zip(names, widths)))
        return "\n".join(lines)


def diversity_tradeoff(encoder, data, split="test", config=None, output_dir=None, progress=True, qrels=None,
                       index=None):
    """Sweeps the relevance/diversity balance of a re-ranker over a BEIR split.

    Retrieves `config.candidates` documents per query exactly, re-ranks them
    with `DiversityReranker` (XLA-compiled) at every balance, and measures
    nDCG@k and recall@k (relevance), ILD@k (diversity of the returned
    embeddings), and alpha-nDCG@k and coverage@k when an aspect field is given.

    Args:
        encoder: `BertEncoder` for queries and documents.
        data: `BeirDataset` or a BEIR folder.
        split: str. The qrels split.
        config: `TradeoffConfig`, or None for the defaults (MMR, 0 to 1 by 0.1).
        output_dir: folder for `tradeoff.json`, `tradeoff.md`, `tradeoff.png`
            and one TREC run per balance (`runs/`), or None.
        progress: bool. Progress bars.
        qrels: the split's judgements if already loaded, or None.
        index: a `BruteForceIndex` over this corpus and encoder, or None.

    Returns:
        `TradeoffResult`.
    """
    import tensorflow as tf

    from tfsearch.layers.diversity_reranker import DiversityReranker

    config = config or TradeoffConfig()
    data = data if isinstance(data, BeirDataset) else BeirDataset(data)
    qrels = data.qrels(split) if qrels is None else qrels
    all_queries = data.queries()
    query_ids = [q for q in qrels if q in all_queries]
    info = {"data": str(data.path), "split": split, **dataclasses.asdict(config), "num_queries": len(query_ids)}
    info["diversities"] = list(config.diversities)

    aspects_of = aspect_labels(data, config.aspect_field) if config.aspect_field else None

    if index is None:
        index = encode_corpus_index(encoder, data, k=config.candidates, progress=progress)
    doc_ids = index.identifiers
    doc_embeddings = np.asarray(index.embeddings)

    query_embeddings = encode_texts(encoder, [all_queries[q].text for q in query_ids], progress=progress,
                                    description="encoding queries")
    candidates = min(config.candidates, len(doc_ids))
    scores, positions = index.top_k_positions(query_embeddings, candidates)
    scores, positions = scores.numpy(), positions.numpy()
    candidate_embeddings = doc_embeddings[positions]  # [num_queries, candidates, dim]
    candidate_ids = np.asarray(doc_ids, dtype=object)[positions]
    aspect_ids = None
    if config.method == "aspects":
        vocabulary = {}
        aspect_ids = np.vectorize(
            lambda d: vocabulary.setdefault(str(aspects_of[d]), len(vocabulary)) if d in aspects_of else -1,
            otypes=[np.int32],
        )(candidate_ids)

    reranker = DiversityReranker(k=config.k, method=config.method)

    @tf.function(jit_compile=True)
    def rerank(embeddings, relevance, diversity, aspects):
        return reranker(embeddings, relevance, diversity=diversity, aspects=aspects)

    rows, runs = [], {}
    start = time.perf_counter()
    for diversity in config.diversities:
        picked = []
        for begin in range(0, len(query_ids), config.batch_size):
            end = begin + config.batch_size
            batch_aspects = None if aspect_ids is None else aspect_ids[begin:end]
            picked.append(rerank(candidate_embeddings[begin:end], scores[begin:end],
                                 np.full(len(scores[begin:end]), diversity, np.float32), batch_aspects)[0].numpy())
        picked = np.concatenate(picked) if picked else np.zeros([0, config.k], np.int32)
        run, lists = {}, []
        for row, query_id in enumerate(query_ids):
            chosen = [p for p in picked[row] if p >= 0]
            # Scores that keep the re-ranked order (MMR's objective need not decrease).
            run[query_id] = {candidate_ids[row, p]: float(len(chosen) - rank) for rank, p in enumerate(chosen)}
            lists.append(candidate_embeddings[row, chosen])
        metrics = evaluate_run(qrels, run, [f"nDCG@{config.k}", f"R@{config.k}"])
        metrics[f"ILD@{config.k}"] = intra_list_diversity(lists, k=config.k)
        if aspects_of is not None:
            metrics.update(aspect_metrics(qrels, aspects_of, run, k=config.k))
        rows.append({"diversity": float(diversity), **metrics})
        runs[float(diversity)] = run
        if diversity == 0.0:
            # Diversity 0 must give back the retrieval order exactly.
            expected = np.where(np.arange(config.k) < candidates, np.arange(config.k), -1)
            info["identical_at_zero"] = bool(np.array_equal(picked, np.tile(expected, (len(picked), 1))))
    info["rerank_seconds"] = round(time.perf_counter() - start, 2)
    info["ild_plus_10_percent"] = _ild_growth_point(rows, config.k, 0.10)

    result = TradeoffResult(rows=rows, runs=runs, info=info)
    if output_dir is not None:
        write_tradeoff(result, output_dir)
    return result


def _ild_growth_point(rows, k, growth):
    """The first balance whose ILD@k exceeds the lowest balance's by `growth`, and its nDCG@k cost."""
    ild, ndcg = f"ILD@{k}", f"nDCG@{k}"
    rows = sorted(rows, key=lambda r: r["diversity"])
    base = rows[0]
    for row in rows[1:]:
        if row[ild] >= base[ild] * (1.0 + growth):
            return {
                "diversity": row["diversity"],
                ild: row[ild],
                "ild_growth": row[ild] / base[ild] - 1.0,
                ndcg: row[ndcg],
                "ndcg_change": row[ndcg] - base[ndcg],
                "ndcg_relative_change": row[ndcg] / base[ndcg] - 1.0 if base[ndcg] else None,
                "from_diversity": base["diversity"],
            }
    return None


def write_tradeoff(result, output_dir):
    """Writes `runs/diversity_D.trec`, `tradeoff.md`, `tradeoff.png` and `tradeoff.json` (last), atomically."""
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for diversity, run in result.runs.items():
        write_trec_run(run, output_dir / "runs" / f"diversity_{diversity:.2f}.trec",
                       tag=f"tfsearch-{result.info['method']}-{diversity:.2f}")
    atomic_write_text(output_dir / "tradeoff.md", result.format_table(markdown=True) + "\n")
    plot_tradeoff(result, output_dir / "tradeoff.png")
    payload = {"rows": result.rows, "info": result.info}
    atomic_write_text(output_dir / "tradeoff.json", json.dumps(payload, indent=2) + "\n")


def tradeoff_figure(result, title=None):
    """A `matplotlib.figure.Figure`: nDCG@k against ILD@k (left) and every measure against the balance (right).

    Built without pyplot, so that it neither changes the backend of a notebook
    nor needs a display; in a notebook the returned figure shows itself.
    """
    from matplotlib.figure import Figure

    k = result.info["k"]
    rows = sorted(result.rows, key=lambda r: r["diversity"])
    diversity = [r["diversity"] for r in rows]
    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    left.plot([r[f"ILD@{k}"] for r in rows], [r[f"nDCG@{k}"] for r in rows], "o-", color="tab:blue")
    for r in rows:
        left.annotate(f"{r['diversity']:g}", (r[f"ILD@{k}"], r[f"nDCG@{k}"]), textcoords="offset points",
                      xytext=(4, 4), fontsize=8)
    left.set_xlabel(f"ILD@{k} (diversity of the list)")
    left.set_ylabel(f"nDCG@{k} (relevance)")
    left.set_title("Trade-off (labels: diversity setting)")
    left.grid(alpha=0.3)
    for name in result.measures:
        right.plot(diversity, [r[name] for r in rows], "o-", label=name, markersize=4)
    right.set_xlabel("diversity (0 = relevance order)")
    right.set_title("Measures against the balance")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    data_name = pathlib.Path(result.info["data"]).name
    fig.suptitle(title or f"{result.info['method'].upper()} re-ranking of {result.info['candidates']} candidates, "
                          f"{data_name} {result.info['split']}")
    fig.tight_layout()
    return fig


def plot_tradeoff(result, path, title=None):
    """Saves `tradeoff_figure(result, title)` as a PNG at `path` (atomically); returns the path."""
    path = pathlib.Path(path)
    with atomic_file(path, mode="wb") as f:
        tradeoff_figure(result, title).savefig(f, format="png", dpi=120)
    return path
