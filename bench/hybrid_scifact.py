"""Hybrid retrieval on SciFact: dense, BM25, rank fusion and dense pseudo-relevance feedback, tuned on train.

For each `--model` (`zero-shot` = the default all-MiniLM-L6-v2, or an encoder
folder such as `bench/.runs/scifact_minilm` from `bench/train_scifact.py`):

1. corpus and query embeddings are computed once and cached in
   `bench/.cache/hybrid/` (keyed by the encoder's fingerprint and the data);
2. the settings are chosen on TRAIN queries the model did not learn from:
   all of SciFact train for the zero-shot model; for a `tfsearch train`
   output, the validation queries it held out of train (its
   `train_config.json`: `validation_fraction`, `seed`); never on test:
   - dense + PRF: `m` (feedback documents) and `beta`;
   - RRF's `k` and the linear fusion's dense weight, for dense + BM25 and for
     dense+PRF + BM25;
   - "hybrid PRF": the dense query expanded with the top `m` of the RRF
     fusion (BM25 helps pick the feedback documents), fused again with BM25;
3. SciFact test figures (nDCG@10, R@100) of every run, at the literature's
   default settings (RRF k = 60, linear weight 0.5, PRF m = 3, beta = 0.5)
   and at the settings chosen on train;
4. per model, the configuration with the best nDCG@10 on the tuning queries
   (chosen on train, not on test) and its test figures (`summary`).

Then, unless `--no-demo`, the same zero-shot comparison (default settings and
the zero-shot model's train-chosen ones, nothing tuned on it) on the demo
corpus that ships with tfsearch, a second, very different BEIR-format set.

Every run is retrieved at depth 1,000 with exact search (`BruteForceIndex`),
BM25 is `tfsearch.hybrid.BM25Retriever` with its defaults (bm25s, Lucene
BM25, English stopwords and Snowball stemming, title + text).

Writes `bench/results/hybrid_scifact.json` (atomically).

Usage:
    python bench/hybrid_scifact.py [--model zero-shot] [--model bench/.runs/scifact_minilm] [--threads 2]
"""

import argparse
import itertools
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_common  # noqa: E402
from bench_common import (  # noqa: E402
    CACHE,
    REPO,
    RESULTS,
    SCIFACT,
    import_tensorflow,
    machine_description,
    write_result,
)

DEPTH = 1000
MEASURES = ("nDCG@10", "R@100")
DEFAULTS = {"rrf_k": 60, "fusion_weight": 0.5, "prf_documents": 3, "prf_beta": 0.5}
GRID = {
    "prf_documents": [1, 2, 3, 5, 10],
    "prf_beta": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
    "rrf_k": [1, 2, 5, 10, 20, 30, 40, 60, 80, 100],
    "fusion_weight": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
}


def load_model(spec):
    """`(label, query encoder, document encoder or None, tuning description, train_config or None)`."""
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.models.two_tower import DOCUMENT_ENCODER_DIR

    if spec == "zero-shot":
        encoder = BertEncoder.from_pretrained(None, dtype="auto")
        return "zero-shot all-MiniLM-L6-v2" + _precision_label(encoder), encoder, None, None
    path = pathlib.Path(spec)
    if not (path / "tfsearch_encoder.json").is_file():
        raise SystemExit(f"{spec} is not an encoder folder (no tfsearch_encoder.json); is training finished?")
    train_config = None
    if (path / "train_config.json").is_file():
        train_config = json.loads((path / "train_config.json").read_text())
    # Evaluate as bench/train_scifact.py does (its 0.7390 used the training precision): the policy the
    # training report records, else the config's setting ("auto" is resolved for this machine).
    report_file = path / "training_report.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    dtype = report.get("precision", {}).get("policy", (train_config or {}).get("mixed_precision"))
    encoder = BertEncoder.from_pretrained(str(path), dtype=dtype)
    document = (BertEncoder.from_pretrained(str(path / DOCUMENT_ENCODER_DIR), dtype=dtype)
                if (path / DOCUMENT_ENCODER_DIR).is_dir() else None)
    return f"fine-tuned {path.name}" + _precision_label(encoder), encoder, document, train_config


def _precision_label(encoder):
    """" (mixed_bfloat16)" for an encoder that does not compute in float32, else "" (the labels of earlier results)."""
    policy = encoder.backbone.dtype_policy.name
    return "" if policy == "float32" else f" ({policy})"


def cached_embeddings(encoder, document_encoder, data, cache_root, batch_size):
    """`(doc_ids, doc_embeddings, {query_id: row}, query_embeddings)`, computed once per encoder and data."""
    from tfsearch.data.pipelines import corpus_dataset
    from tfsearch.models.batch_encoding import encode_dataset, encode_texts
    from tfsearch.models.fingerprint import model_fingerprint

    key = "-".join([data.path.name, model_fingerprint(encoder),
                    model_fingerprint(document_encoder) if document_encoder is not None else "shared",
                    str(encoder.sequence_length), str(data.corpus_path.stat().st_size),
                    str(data.queries_path.stat().st_size)]
                   # The fingerprint leaves the precision out; float32 keys stay those of earlier caches.
                   + [encoder.backbone.compute_dtype] * (encoder.backbone.compute_dtype != "float32"))

    def compute():
        queries = data.queries()
        doc_ids, doc_embeddings = encode_dataset(document_encoder or encoder, corpus_dataset(data),
                                                 batch_size=batch_size, total=data.count_documents(),
                                                 description="encoding corpus")
        query_ids = list(queries)
        query_embeddings = encode_texts(encoder, [queries[q].text for q in query_ids], batch_size=batch_size,
                                        progress=True, description="encoding queries")
        return doc_ids, doc_embeddings, query_ids, query_embeddings

    doc_ids, doc_embeddings, query_ids, query_embeddings = bench_common.cached_embeddings(cache_root / key, compute)
    return doc_ids, doc_embeddings, {q: i for i, q in enumerate(query_ids)}, query_embeddings


class Retrieval:
    """Dense and BM25 runs of one query set, and the fused / expanded variants, with their metrics."""

    def __init__(self, qrels, query_ids, query_embeddings, index, bm25, texts):
        from tfsearch.eval.retrieval_evaluation import run_from_search

        self.qrels, self.query_ids, self.queries, self.index = qrels, query_ids, query_embeddings, index
        scores, ids = index.search(query_embeddings, k=DEPTH)
        self.dense = run_from_search(query_ids, scores, ids)
        scores, ids = bm25.search(texts, k=DEPTH)
        self.bm25 = run_from_search(query_ids, scores, ids)

    def evaluate(self, run):
        from tfsearch.eval.metrics import evaluate_run

        return evaluate_run(self.qrels, run, MEASURES)

    def prf(self, m, beta, feedback_run=None):
        """Dense run of the queries expanded with the top `m` of `feedback_run` (default: the dense run)."""
        from tfsearch.eval.retrieval_evaluation import run_from_search
        from tfsearch.hybrid import expand_queries, ranked_ids

        feedback = ranked_ids(feedback_run or self.dense, self.query_ids, m)
        expanded = expand_queries(self.queries, feedback, self.index, m, beta)
        scores, ids = self.index.search(expanded, k=DEPTH)
        return run_from_search(self.query_ids, scores, ids)

    @staticmethod
    def rrf(dense, bm25, k):
        from tfsearch.hybrid import reciprocal_rank_fusion, truncate_run

        return truncate_run(reciprocal_rank_fusion([dense, bm25], k=k), DEPTH)

    @staticmethod
    def linear(dense, bm25, weight):
        from tfsearch.hybrid import linear_fusion, truncate_run

        return truncate_run(linear_fusion(dense, bm25, weight=weight), DEPTH)


def best(candidates, evaluate):
    """`(setting, metrics, table)`: the setting of `candidates` (dicts) with the highest nDCG@10 (first on ties)."""
    table = []
    for setting in candidates:
        metrics = evaluate(setting)
        table.append({**setting, **{k: round(v, 4) for k, v in metrics.items()}})
    chosen = max(range(len(table)), key=lambda i: (table[i]["nDCG@10"], -i))
    setting = {k: v for k, v in table[chosen].items() if k not in MEASURES}
    return setting, {m: table[chosen][m] for m in MEASURES}, table


def tune(r):
    """Chooses every setting on the tuning queries `r`; returns `(chosen, tables)`."""
    chosen, tables = {}, {}
    prf_grid = [{"prf_documents": m, "prf_beta": b} for m, b in itertools.product(GRID["prf_documents"],
                                                                                   GRID["prf_beta"])]
    chosen["dense+prf"], _, tables["dense+prf"] = best(
        prf_grid, lambda s: r.evaluate(r.prf(s["prf_documents"], s["prf_beta"])))
    prf_run = r.prf(chosen["dense+prf"]["prf_documents"], chosen["dense+prf"]["prf_beta"])
    for name, dense in (("rrf", r.dense), ("rrf dense+prf", prf_run)):
        chosen[name], _, tables[name] = best([{"rrf_k": k} for k in GRID["rrf_k"]],
                                             lambda s: r.evaluate(r.rrf(dense, r.bm25, s["rrf_k"])))
    for name, dense in (("linear", r.dense), ("linear dense+prf", prf_run)):
        chosen[name], _, tables[name] = best([{"fusion_weight": w} for w in GRID["fusion_weight"]],
                                             lambda s: r.evaluate(r.linear(dense, r.bm25, s["fusion_weight"])))
    k = chosen["rrf"]["rrf_k"]
    fused = r.rrf(r.dense, r.bm25, k)

    def hybrid_prf(s):
        return r.evaluate(r.rrf(r.prf(s["prf_documents"], s["prf_beta"], feedback_run=fused), r.bm25, k))

    chosen["hybrid prf"], _, tables["hybrid prf"] = best(prf_grid, hybrid_prf)
    chosen["hybrid prf"]["rrf_k"] = k
    return chosen, tables


def all_runs(r, s):
    """Every configuration at settings `s` (`{name: settings}`), as `{name: (settings, run)}`."""
    prf = s["dense+prf"]
    prf_run = r.prf(prf["prf_documents"], prf["prf_beta"])
    runs = {"dense": ({}, r.dense), "bm25": ({}, r.bm25), "dense+prf": (prf, prf_run)}
    runs["rrf(dense, bm25)"] = (s["rrf"], r.rrf(r.dense, r.bm25, s["rrf"]["rrf_k"]))
    runs["linear(dense, bm25)"] = (s["linear"], r.linear(r.dense, r.bm25, s["linear"]["fusion_weight"]))
    runs["rrf(dense+prf, bm25)"] = ({**prf, **s["rrf dense+prf"]},
                                    r.rrf(prf_run, r.bm25, s["rrf dense+prf"]["rrf_k"]))
    runs["linear(dense+prf, bm25)"] = ({**prf, **s["linear dense+prf"]},
                                       r.linear(prf_run, r.bm25, s["linear dense+prf"]["fusion_weight"]))
    h = s["hybrid prf"]
    fused = r.rrf(r.dense, r.bm25, h["rrf_k"])
    runs["rrf(dense+prf from rrf, bm25)"] = (
        h, r.rrf(r.prf(h["prf_documents"], h["prf_beta"], feedback_run=fused), r.bm25, h["rrf_k"]))
    return {name: {"settings": settings, **{k: round(v, 4) for k, v in r.evaluate(run).items()}}
            for name, (settings, run) in runs.items()}


def default_settings():
    prf = {"prf_documents": DEFAULTS["prf_documents"], "prf_beta": DEFAULTS["prf_beta"]}
    return {"dense+prf": prf, "rrf": {"rrf_k": DEFAULTS["rrf_k"]}, "rrf dense+prf": {"rrf_k": DEFAULTS["rrf_k"]},
            "linear": {"fusion_weight": DEFAULTS["fusion_weight"]},
            "linear dense+prf": {"fusion_weight": DEFAULTS["fusion_weight"]},
            "hybrid prf": {**prf, "rrf_k": DEFAULTS["rrf_k"]}}


def retrieval_for(data, split, qrels, doc_index, bm25, query_rows, query_embeddings):
    queries = data.queries()
    query_ids = [q for q in qrels if q in queries]
    rows = [query_rows[q] for q in query_ids]
    return Retrieval(qrels, query_ids, query_embeddings[rows], doc_index, bm25, [queries[q].text for q in query_ids])


def bench_model(spec, data, cache_root, batch_size):
    from tfsearch.hybrid import BM25Retriever
    from tfsearch.index import BruteForceIndex
    from tfsearch.training.training_data import split_queries

    started = time.perf_counter()
    label, encoder, document_encoder, train_config = load_model(spec)
    print(f"\n== {label} ==", flush=True)
    doc_ids, doc_embeddings, query_rows, query_embeddings = cached_embeddings(
        encoder, document_encoder, data, cache_root, batch_size)
    index = BruteForceIndex(k=DEPTH).index(doc_embeddings, doc_ids)
    corpus = data.corpus()
    bm25 = BM25Retriever().index(doc_ids, [corpus[d].contents() for d in doc_ids])

    train_qrels = data.qrels("train")
    if train_config is not None:
        learned, held_out = split_queries(train_qrels, train_config["validation_fraction"], train_config["seed"])
        tuning_qrels = held_out
        tuning = (f"the {len(held_out)} SciFact train queries the model's training held out for validation "
                  f"(validation_fraction {train_config['validation_fraction']}, seed {train_config['seed']}); "
                  f"it learned from the other {len(learned)}")
    else:
        tuning_qrels = train_qrels
        tuning = f"all {len(train_qrels)} SciFact train queries (the zero-shot model never saw SciFact)"
    print(f"  tuning on {tuning}", flush=True)
    tuning_run = retrieval_for(data, "train", tuning_qrels, index, bm25, query_rows, query_embeddings)
    chosen, tables = tune(tuning_run)
    print(f"  chosen on train: {json.dumps(chosen)}", flush=True)
    test = retrieval_for(data, "test", data.qrels("test"), index, bm25, query_rows, query_embeddings)
    at_defaults = all_runs(test, default_settings())
    at_chosen = all_runs(test, chosen)
    tuning_figures = all_runs(tuning_run, chosen)
    for name in at_chosen:
        print(f"  test {name:<32} defaults nDCG@10 {at_defaults[name]['nDCG@10']:.4f} | chosen on train "
              f"{at_chosen[name]['nDCG@10']:.4f}  R@100 {at_chosen[name]['R@100']:.4f}", flush=True)
    # The same default RRF run through `evaluate_hybrid` (what `tfsearch evaluate --hybrid rrf` calls).
    from tfsearch.hybrid import evaluate_hybrid

    check = evaluate_hybrid(encoder, data, "test", fusion="rrf", rrf_k=DEFAULTS["rrf_k"], top_k=DEPTH,
                            measures=MEASURES, batch_size=batch_size, progress=False, index=index, bm25=bm25)
    consistency = {name: round(check.metrics[name]["nDCG@10"], 4) for name in check.metrics}
    print(f"  evaluate_hybrid (as tfsearch evaluate --hybrid rrf): {consistency}", flush=True)
    chosen_configuration = max(tuning_figures, key=lambda name: tuning_figures[name]["nDCG@10"])
    summary = {"configuration_chosen_on_train": chosen_configuration,
               "settings": at_chosen[chosen_configuration]["settings"],
               "train_nDCG@10": tuning_figures[chosen_configuration]["nDCG@10"],
               "test_nDCG@10": at_chosen[chosen_configuration]["nDCG@10"],
               "test_R@100": at_chosen[chosen_configuration]["R@100"],
               "test_dense_nDCG@10": at_chosen["dense"]["nDCG@10"]}
    print(f"  chosen on train: {chosen_configuration} -> test nDCG@10 {summary['test_nDCG@10']:.4f}", flush=True)
    return label, {
        "model": spec, "summary": summary, "evaluate_hybrid_rrf_k60_test_nDCG@10": consistency,
        "tuning_queries": tuning, "num_tuning_queries": len(tuning_run.query_ids),
        "num_test_queries": len(test.query_ids), "chosen_on_train": chosen,
        "test_at_defaults": at_defaults, "test_at_settings_chosen_on_train": at_chosen,
        "train_at_chosen_settings": tuning_figures, "tuning_tables": tables,
        "seconds": round(time.perf_counter() - started, 1),
    }


def bench_demo(zero_shot_chosen, batch_size, cache_root):
    """Zero-shot comparison on the demo corpus (test split only: nothing is tuned on it)."""
    from tfsearch.data import DEMO_DIR, BeirDataset
    from tfsearch.hybrid import BM25Retriever
    from tfsearch.index import BruteForceIndex

    data = BeirDataset(DEMO_DIR)
    label, encoder, _, _ = load_model("zero-shot")
    doc_ids, doc_embeddings, query_rows, query_embeddings = cached_embeddings(encoder, None, data, cache_root,
                                                                              batch_size)
    index = BruteForceIndex(k=DEPTH).index(doc_embeddings, doc_ids)
    corpus = data.corpus()
    bm25 = BM25Retriever().index(doc_ids, [corpus[d].contents() for d in doc_ids])
    test = retrieval_for(data, "test", data.qrels("test"), index, bm25, query_rows, query_embeddings)
    result = {"data": "tfsearch demo corpus (tfsearch/data/demo: 288 short documents on 12 topics, 48 queries)",
              "model": label, "num_test_queries": len(test.query_ids),
              "test_at_defaults": all_runs(test, default_settings())}
    if zero_shot_chosen:
        result["test_at_settings_chosen_on_scifact_train"] = all_runs(test, zero_shot_chosen)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="zero-shot or an encoder folder (repeatable; default: "
                                                         "zero-shot and bench/.runs/scifact_minilm if it exists)")
    parser.add_argument("--data", default=str(SCIFACT))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cache", default=str(CACHE / "hybrid"))
    parser.add_argument("--no-demo", action="store_true", help="skip the demo-corpus comparison")
    parser.add_argument("--output", default=str(RESULTS / "hybrid_scifact.json"))
    args = parser.parse_args(argv)
    import_tensorflow(args.threads)
    from tfsearch.data import BeirDataset

    models = args.model or ["zero-shot"] + (
        ["bench/.runs/scifact_minilm"] if (REPO / "bench/.runs/scifact_minilm/training_report.json").is_file() else [])
    data = BeirDataset(args.data)
    results = {"command": "python bench/hybrid_scifact.py " + " ".join(sys.argv[1:] if argv is None else argv),
               "data": str(args.data), "depth": DEPTH, "measures": list(MEASURES), "defaults": DEFAULTS,
               "grid": GRID, "threads": args.threads, "machine": machine_description(), "models": {}}
    for spec in models:
        label, result = bench_model(spec, data, pathlib.Path(args.cache), args.batch_size)
        results["models"][label] = result
    # Each model's configuration is the one with the best nDCG@10 on its tuning (train) queries.
    results["summary"] = {label: result["summary"] for label, result in results["models"].items()}
    if not args.no_demo:
        zero = next((r for r in results["models"].values() if r["model"] == "zero-shot"), None)
        results["demo"] = bench_demo(zero["chosen_on_train"] if zero else None, args.batch_size,
                                     pathlib.Path(args.cache))
    write_result(args.output, results)
    for label, summary in results["summary"].items():
        print(f"\n{label}: chosen on train: {summary['configuration_chosen_on_train']} "
              f"{json.dumps(summary['settings'])} -> SciFact test nDCG@10 {summary['test_nDCG@10']:.4f} "
              f"(dense alone {summary['test_dense_nDCG@10']:.4f})")
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
