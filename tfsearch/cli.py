"""The `tfsearch` command line: thin wrappers that parse, call the library, print."""

import argparse
import json
import os
import pathlib
import sys

from tfsearch.utils.arg_types import (
    fraction,
    non_negative_float,
    non_negative_int,
    positive_int,
    unit_interval,
    unit_interval_list,
)

EXAMPLE_QUERIES = (
    "how do astronomers find planets around other stars",
    "keeping sourdough alive and baking bread at home",
    "what happens when the heart beats irregularly",
)


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import warnings

    warnings.filterwarnings("ignore", message=".*TensorFlow and JAX classes are deprecated.*")


def _load_encoder(model, sequence_length=None, bf16=False):
    from tfsearch.models.bert_encoder import BertEncoder

    return BertEncoder.from_pretrained(model, sequence_length=sequence_length,
                                       dtype="mixed_bfloat16" if bf16 else None)


def _load_document_encoder(model, sequence_length=None, bf16=False):
    """The separate document tower of a `tfsearch train` output folder, or None (shared towers)."""
    from tfsearch.models.two_tower import DOCUMENT_ENCODER_DIR

    if model is None or not (pathlib.Path(model) / DOCUMENT_ENCODER_DIR).is_dir():
        return None
    return _load_encoder(str(pathlib.Path(model) / DOCUMENT_ENCODER_DIR), sequence_length, bf16)


# --- commands ---------------------------------------------------------------


def cmd_quickstart(args):
    from tfsearch.data import DEMO_DIR, BeirDataset
    from tfsearch.eval.retrieval_evaluation import evaluate_retrieval
    from tfsearch.index.brute_force_index import BruteForceIndex
    from tfsearch.models.batch_encoding import encode_dataset, encode_texts
    from tfsearch.data.pipelines import corpus_dataset

    data = BeirDataset(DEMO_DIR)
    print(f"Loading the encoder ({args.model or 'default: all-MiniLM-L6-v2'}) ...", flush=True)
    encoder = _load_encoder(args.model)
    corpus = data.corpus()
    doc_ids, doc_embeddings = encode_dataset(
        encoder, corpus_dataset(data), total=len(corpus), progress=not args.no_progress,
        description="encoding demo corpus",
    )
    index = BruteForceIndex(k=args.k).index(doc_embeddings, doc_ids)
    queries = args.query or list(EXAMPLE_QUERIES)
    scores, ranked = index.search(encode_texts(encoder, queries), k=args.k)
    for query, row_scores, row_ids in zip(queries, scores, ranked):
        print(f"\nQuery: {query}")
        for rank, (doc_id, score) in enumerate(zip(row_ids, row_scores), start=1):
            doc = corpus[doc_id]
            print(f"  {rank}. {score:.3f}  [{doc.metadata.get('topic', '')}] {doc.title}")
    qrels = data.qrels("test")
    print(f"\nEvaluating on the demo test split ({len(qrels)} queries) ...", flush=True)
    result = evaluate_retrieval(encoder, data, split="test", output_dir=args.output, top_k=100, progress=False,
                                index=index, qrels=qrels)
    print(result.format_table())
    if args.output:
        print(f"\nWrote {args.output}/run.trec and {args.output}/metrics.json")
    return 0


def cmd_data_check(args):
    from tfsearch.data.quality import check_beir_folder

    report = check_beir_folder(args.dir)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format())
    return 0 if report.usable else 1


def cmd_evaluate(args):
    from tfsearch.data.beir import BeirDataset
    from tfsearch.eval.metrics import parse_measures
    from tfsearch.eval.retrieval_evaluation import evaluate_retrieval

    parse_measures(args.measures)  # fail fast, before any encoding
    hybrid = _check_hybrid_flags(args)
    config = _tradeoff_config(args) if args.rerank else None
    data = BeirDataset(args.data)
    qrels = data.qrels(args.split)  # validates the data before the slow part
    encoder = _load_encoder(args.model, args.max_length, args.bf16)
    if config is not None:
        return _evaluate_tradeoff(args, config, encoder, data, qrels)
    index = None
    if args.index:
        from tfsearch.index.index_building import load_index
        from tfsearch.models.fingerprint import model_fingerprint

        index, _ = load_index(args.index, encoder_fingerprint=model_fingerprint(encoder))
        if args.top_k > index.num_documents:
            args.top_k = index.num_documents
    if hybrid:
        return _evaluate_hybrid(args, encoder, data, qrels, index)
    result = evaluate_retrieval(
        encoder, data, split=args.split, output_dir=args.output, top_k=args.top_k, measures=args.measures,
        batch_size=args.batch_size, progress=not args.no_progress, qrels=qrels, aspect_field=args.aspect_field,
        index=index, document_encoder=_load_document_encoder(args.model, args.max_length, args.bf16),
    )
    print(result.format_table())
    if args.output:
        print(f"Wrote {args.output}/run.trec, {args.output}/metrics.json and {args.output}/info.json")
    return 0


def _check_hybrid_flags(args):
    """True when `evaluate` runs the hybrid path (`--hybrid` or `--prf-documents`); refuses flags that do not fit."""
    hybrid = bool(args.hybrid or args.prf_documents)
    if hybrid and args.rerank:
        raise ValueError("--rerank cannot be combined with --hybrid or --prf-documents; run them separately.")
    if hybrid and args.aspect_field:
        raise ValueError("--aspect-field is not supported with --hybrid or --prf-documents.")
    if args.rrf_k is not None and args.hybrid != "rrf":
        raise ValueError("--rrf-k applies to --hybrid rrf only.")
    if args.fusion_weight is not None and args.hybrid != "linear":
        raise ValueError("--fusion-weight applies to --hybrid linear only.")
    if args.prf_beta is not None and not args.prf_documents:
        raise ValueError("--prf-beta needs --prf-documents M (M >= 1 feedback documents).")
    return hybrid


def _evaluate_hybrid(args, encoder, data, qrels, index):
    from tfsearch.hybrid import evaluate_hybrid
    from tfsearch.hybrid.hybrid_evaluation import RUN_FOLDERS

    result = evaluate_hybrid(
        encoder, data, split=args.split, fusion=args.hybrid, rrf_k=60 if args.rrf_k is None else args.rrf_k,
        fusion_weight=0.5 if args.fusion_weight is None else args.fusion_weight, prf_documents=args.prf_documents,
        prf_beta=0.5 if args.prf_beta is None else args.prf_beta, output_dir=args.output, top_k=args.top_k,
        measures=args.measures, batch_size=args.batch_size, progress=not args.no_progress, qrels=qrels, index=index,
        document_encoder=_load_document_encoder(args.model, args.max_length, args.bf16))
    print(result.format_table())
    if args.output:
        folders = ", ".join(f"{RUN_FOLDERS[name]}/" for name in result.runs)
        print(f"Wrote run.trec, metrics.json and info.json in {args.output}/ {folders}, and {args.output}/metrics.json")
    return 0


def cmd_index_build(args):
    from tfsearch.data.beir import BeirDataset
    from tfsearch.data.pipelines import corpus_dataset
    from tfsearch.index.index_building import build_index
    from tfsearch.models.batch_encoding import encode_dataset, encode_texts
    from tfsearch.models.fingerprint import model_fingerprint

    if pathlib.Path(args.output).exists() and not args.overwrite:
        raise FileExistsError(f"{args.output} already exists; choose another path or pass --overwrite.")
    data = BeirDataset(args.data)
    total = data.count_documents()  # validates the corpus before the slow part
    encoder = _load_encoder(args.model, args.max_length, args.bf16)
    doc_ids, embeddings = encode_dataset(encoder, corpus_dataset(data), batch_size=args.batch_size, total=total,
                                         progress=not args.no_progress, description="encoding corpus")
    tuning_queries = None
    if args.backend == "scann":
        queries = [q.text for q in data.queries().values()][:500]
        if queries:
            tuning_queries = encode_texts(encoder, queries, batch_size=args.batch_size,
                                          progress=not args.no_progress, description="encoding tuning queries")
        print(f"Tuning ScaNN for recall@{args.k} >= {args.target_recall} on {len(queries) or 'sampled'} queries ...",
              flush=True)
    index, report = build_index(embeddings, doc_ids, backend=args.backend, k=args.k, target_recall=args.target_recall,
                                tuning_queries=tuning_queries,
                                quantization=None if args.quantization == "none" else args.quantization)
    metadata = {"encoder_fingerprint": model_fingerprint(encoder), "model": args.model, "data": str(data.path),
                "max_length": args.max_length, "tuning": report}
    index.save(args.output, metadata=metadata, overwrite=args.overwrite)
    flavour = args.backend + (f" ({args.quantization})" if args.quantization != "none" else "")
    print(f"Wrote {flavour} index of {index.num_documents} documents to {args.output}")
    if report:
        chosen, built = report["chosen"], report["built"][-1]
        print(f"ScaNN: {report['num_leaves']} leaves, searching {built['num_leaves_to_search']}, re-ordering "
              f"{built['num_reordering_candidates']}; recall@{report['k']} on the tuning queries "
              f"{built['recall']:.4f} (tuning searcher: {chosen['recall']:.4f} at "
              f"{chosen['queries_per_second']:,.0f} queries/s batched)"
              + ("" if built["recall"] >= report["target_recall"] else f"; target {report['target_recall']} not reached"))
    return 0


# Flag types of TrainConfig settings whose default (None) does not tell.
_TRAIN_FLAG_TYPES = {"model": str, "max_length": int, "projection_dim": int, "validation_corpus_size": int,
                     "num_hard_negatives": int, "tpu": str, "mixed_precision": str}
_TRAIN_FLAG_HELP = {
    "config": "JSON file of settings (flags override it)",
    "data": "BEIR folder", "output": "model folder to write (resumed when it holds a run)",
    "split": "qrels split to train on", "model": "starting checkpoint or preset (all-MiniLM-L6-v2)",
    "max_length": "tokens per text (the checkpoint's: 256)", "shared_towers": "one encoder for queries and documents",
    "projection_dim": "add a projection head of this size", "validation_fraction": "training queries held out",
    "temperature": "softmax temperature", "remove_accidental_hits": "do not count a positive's duplicate as negative",
    "num_hard_negatives": "tfrs mining: keep the N hardest negatives of each query",
    "mining_skip_top": "unjudged documents skipped at the top (likely false negatives)",
    "mining_depth": "ranks searched when mining", "tpu": "TPU name or address (--strategy tpu)",
    "warmup_fraction": "share of steps warming up", "weight_decay": "AdamW weight decay",
    "early_stopping_patience": "epochs without a better validation nDCG@10", "seed": "random seed",
    "epochs": "passes over the training pairs", "batch_size": "global batch (split across replicas)",
    "learning_rate": "peak learning rate (AdamW, linear warm-up and decay)",
    "mined_negatives": "hard negatives mined per query with the starting model (0: none)",
    "strategy": "default | one_device | mirrored | multi_worker (TF_CONFIG) | tpu",
    "mixed_precision": "mixed_bfloat16 | mixed_float16", "jit_compile": "XLA-compile the training step",
    "checkpoint_every": "steps between fault-tolerance backups",
    "validation_corpus_size": "documents searched at validation (default: the whole corpus)",
}


def _add_train_flags(parser):
    import dataclasses

    from tfsearch.training.train_config import TrainConfig

    parser.add_argument("--config", help=_TRAIN_FLAG_HELP["config"])
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        required = field.default is dataclasses.MISSING
        help_text = _TRAIN_FLAG_HELP.get(field.name, field.name.replace("_", " "))
        if isinstance(field.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{help_text} (default: {field.default})")
        else:
            kind = _TRAIN_FLAG_TYPES.get(field.name) or type(field.default) if not required else str
            shown = "" if required or field.default is None else f" (default: {field.default})"
            parser.add_argument(flag, type=kind, default=None, help=help_text + shown)


def cmd_train(args):
    import dataclasses
    import json
    import shutil

    from tfsearch.training.train_config import TrainConfig
    from tfsearch.training.trainer import train

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    if args.config:
        config = TrainConfig.from_file(args.config, **values)
    else:
        missing = [f"--{name}" for name in ("data", "output") if values[name] is None]
        if missing:
            raise ValueError(f"{' and '.join(missing)} required (or give them in --config).")
        config = TrainConfig.from_dict({k: v for k, v in values.items() if v is not None})
    if args.overwrite and pathlib.Path(config.output).exists():
        shutil.rmtree(config.output)
    report = train(config, progress=not args.no_progress)
    if report.get("already_complete"):
        print(f"{config.output} already holds a completed run with these settings (pass --overwrite to retrain).")
    best = report.get("best_validation")
    print(f"Trained {report['steps']} steps ({report['epochs_completed']} epochs, {report['training_pairs']} pairs, "
          f"{report['examples_per_second']:.1f} examples/s)"
          + (f"; best validation nDCG@10 {best:.4f}" if best is not None else ""))
    print(f"Wrote the model to {config.output} (tfsearch evaluate --model {config.output})")
    print(json.dumps({k: report[k] for k in ("steps", "best_validation", "weights_fingerprint")}))
    return 0


def _index_and_encoder(index_path, model=None):
    """`(built, model, encoder, index)`: an index folder with the encoder it was built with (or `model`, checked)."""
    from tfsearch.index.index_building import load_index
    from tfsearch.models.fingerprint import model_fingerprint

    meta_path = pathlib.Path(index_path) / "index.json"
    if not meta_path.is_file():  # before loading any model
        raise FileNotFoundError(f"{index_path} is not a tfsearch index folder (no index.json).")
    built = json.loads(meta_path.read_text(encoding="utf-8")).get("metadata", {})
    model = model if model is not None else built.get("model")
    encoder = _load_encoder(model, built.get("max_length"))
    index, _ = load_index(index_path, encoder_fingerprint=model_fingerprint(encoder))
    return built, model, encoder, index


def cmd_search(args):
    from tfsearch.data.beir import BeirDataset
    from tfsearch.models.batch_encoding import encode_texts

    built, _, encoder, index = _index_and_encoder(args.index, args.model)
    scores, ids = index.search(encode_texts(encoder, args.query), k=args.k)
    titles = {}
    if built.get("data") and pathlib.Path(built["data"]).is_dir():
        wanted = {d for row in ids for d in row}
        titles = {d.id: d.title for d in BeirDataset(built["data"]).iter_corpus() if d.id in wanted}
    for query, row_scores, row_ids in zip(args.query, scores, ids):
        print(f"\nQuery: {query}")
        for rank, (doc_id, score) in enumerate(zip(row_ids, row_scores), start=1):
            print(f"  {rank}. {score:.3f}  {doc_id}  {titles.get(doc_id, '')}".rstrip())
    return 0


def cmd_export(args):
    import numpy as np

    from tfsearch.export import export_search_model

    built, model, encoder, index = _index_and_encoder(args.index, args.model)
    document_encoder = _load_document_encoder(model, built.get("max_length"))
    if index.embeddings is None:
        raise ValueError(f"{args.index} holds no document embeddings (built before they were saved); rebuild it "
                         "with `tfsearch index build`.")
    if getattr(index, "layer", "absent") is None:
        # A loaded ScaNN index answers through its own SavedModel; the export
        # needs the Keras layer, so the searcher is rebuilt with the parameters
        # the index was tuned to (ScaNN's k-means is randomised: the tree differs).
        from tfsearch.index.scann_index import ScannIndex

        index = ScannIndex(k=index.k, params=index.params).index(np.asarray(index.embeddings), index.identifiers)
    titles = None
    if built.get("data") and pathlib.Path(built["data"]).is_dir():
        from tfsearch.data.beir import BeirDataset

        titles = {doc.id: doc.title or doc.text[:80] for doc in BeirDataset(built["data"]).iter_corpus()}
    version_dir, audit = export_search_model(
        encoder, index, args.output, document_encoder=document_encoder,
        document_embeddings=np.asarray(index.embeddings), method=args.method, num_candidates=args.candidates,
        max_k=args.max_k, metadata={"model": model, "index": str(args.index)}, titles=titles,
        prf_documents=args.prf_documents, prf_beta=args.prf_beta)
    flavour = "brute_force" if not audit["scann"] else "scann"
    print(f"Wrote {version_dir} ({flavour}; signatures serving_default = search, encode_query, encode_document, "
          "search_embeddings)")
    if args.prf_documents:
        print(f"search expands each query with its top {args.prf_documents} documents (beta {args.prf_beta}) "
              "before retrieving the candidates")
    print(f"Ops outside core TensorFlow: {', '.join(audit['custom_ops']) or 'none'} (assets.extra/op_audit.json)")
    if flavour == "scann":
        print("This export needs a TensorFlow Serving build with ScaNN's ops; stock TensorFlow Serving cannot load "
              "it (export a brute_force index for that).")
    return 0


def cmd_serve(args):
    import uvicorn

    from tfsearch.serving.app import create_app

    app = create_app(args.model_base_path, model_name=args.model_name, poll_seconds=args.poll_seconds)
    version = app.state.store.current.version
    print(f"Serving {args.model_base_path} version {version} at http://{args.host}:{args.port}/ "
          f"(REST: /v1/models/{args.model_name or pathlib.Path(args.model_base_path).name}:predict)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _tradeoff_config(args):
    from tfsearch.eval.diversity_tradeoff import TradeoffConfig

    return TradeoffConfig(method=args.rerank, diversities=tuple(args.diversity), candidates=args.candidates,
                          k=args.rerank_k, aspect_field=args.aspect_field, batch_size=args.batch_size)


def _evaluate_tradeoff(args, config, encoder, data, qrels):
    from tfsearch.eval.diversity_tradeoff import diversity_tradeoff

    result = diversity_tradeoff(encoder, data, split=args.split, config=config, output_dir=args.output,
                                progress=not args.no_progress, qrels=qrels)
    print(result.format_table())
    if "identical_at_zero" in result.info:
        print(f"diversity 0 reproduces the retrieval order exactly: {result.info['identical_at_zero']}")
    point = result.info["ild_plus_10_percent"]
    if point:
        k = config.k
        print(f"ILD@{k} +{point['ild_growth']:.0%} at diversity {point['diversity']:g}: "
              f"nDCG@{k} {point[f'nDCG@{k}']:.4f} ({point['ndcg_change']:+.4f})")
    if args.output:
        print(f"Wrote {args.output}/tradeoff.md, tradeoff.png, tradeoff.json and runs/")
    return 0


# --- parser -----------------------------------------------------------------


def build_parser():
    from tfsearch.eval.metrics import DEFAULT_MEASURES

    parser = argparse.ArgumentParser(
        prog="tfsearch",
        description="TensorFlow semantic search: BERT towers, exact and ScaNN retrieval, evaluation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("quickstart", help="Search and evaluate the demo corpus with the pretrained model.",
                       description="Encode the bundled demo corpus, search a few queries, print results and metrics.")
    p.add_argument("--model", help="checkpoint folder or preset (default: all-MiniLM-L6-v2)")
    p.add_argument("--query", action="append", help="a query to search (repeatable); default: three examples")
    p.add_argument("-k", type=positive_int, default=5, help="results per query (default: 5)")
    p.add_argument("--output", help="also write run.trec and metrics.json to this folder")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_quickstart)

    p = sub.add_parser("data", help="Data tools (see `tfsearch data check --help`).",
                       description="Data tools for BEIR folders.")
    data_sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    data_sub.required = True
    c = data_sub.add_parser("check", help="Validate a BEIR folder and print a data quality report.",
                            description="Validate a BEIR folder and print a data quality report; "
                                        "exits 1 when the data cannot be used.")
    c.add_argument("dir", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=cmd_data_check)

    p = sub.add_parser("evaluate", help="Evaluate retrieval on a BEIR split (nDCG@10, R@100, ...).",
                       description="Encode corpus and queries, retrieve the top k exactly, write OUT/run.trec "
                                   "and OUT/metrics.json, and print the metrics.")
    p.add_argument("--data", required=True, help="BEIR folder")
    p.add_argument("--split", default="test", help="qrels split (default: test)")
    p.add_argument("--output", help="output folder for run.trec, metrics.json, info.json")
    p.add_argument("--model", help="checkpoint folder or preset (default: all-MiniLM-L6-v2)")
    p.add_argument("--top-k", type=positive_int, default=1000, help="results per query (default: 1000)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="texts per forward pass (default: 64)")
    p.add_argument("--max-length", type=positive_int, help="tokens per text (default: the checkpoint's, 256)")
    p.add_argument("--bf16", action="store_true",
                   help="compute in bfloat16 (faster on CPUs with AVX512-BF16, TPUs and recent GPUs; "
                        "embeddings stay within cosine 0.999 of float32)")
    p.add_argument("--measures", nargs="+", default=list(DEFAULT_MEASURES),
                   help=f"ir-measures names (default: {' '.join(DEFAULT_MEASURES)})")
    p.add_argument("--index", help="evaluate through this index folder (`tfsearch index build`) instead of "
                                   "building an exact one; refused if built with another encoder")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g = p.add_argument_group("diversity re-ranking (relevance/diversity trade-off)")
    g.add_argument("--rerank", choices=["mmr", "dpp", "aspects"],
                   help="re-rank the exact top --candidates at each --diversity and write the trade-off table and "
                        "plot (OUT/tradeoff.md, tradeoff.png, tradeoff.json)")
    g.add_argument("--diversity", type=unit_interval_list, default=[round(0.1 * i, 1) for i in range(11)],
                   help="comma-separated balances in [0, 1], 0 = relevance order (default: 0,0.1,...,1)")
    g.add_argument("--candidates", type=positive_int, default=100, help="candidates per query (default: 100)")
    g.add_argument("--rerank-k", type=positive_int, default=10,
                   help="length of the re-ranked list and metric cut-off (default: 10)")
    g.add_argument("--aspect-field",
                   help="document metadata field with aspect labels (e.g. subtopic, genre): adds alpha-nDCG@10 and "
                        "coverage@10 (ILD@10 is always reported); needed by --rerank aspects")
    g = p.add_argument_group("hybrid retrieval and query expansion (dense, bm25 and fused runs side by side)")
    g.add_argument("--hybrid", choices=["rrf", "linear"],
                   help="also run BM25 (bm25s; English stopwords and stemming; title + text) and fuse it with the "
                        "dense run: rrf = reciprocal-rank fusion, linear = convex combination of scores min-max normalised "
                        "per query; writes OUT/dense/, OUT/bm25/, OUT/fused/ (run.trec, metrics.json) and "
                        "OUT/metrics.json")
    g.add_argument("--rrf-k", type=non_negative_float, help="RRF constant: score = sum 1/(k + rank) (default: 60)")
    g.add_argument("--fusion-weight", type=unit_interval,
                   help="--hybrid linear: the dense score's share in [0, 1] (default: 0.5)")
    g.add_argument("--prf-documents", type=non_negative_int, default=0, metavar="M",
                   help="pseudo-relevance feedback: expand each dense query with its top M documents and search "
                        "again (reported as dense+prf; fused instead of plain dense) (default: 0, off)")
    g.add_argument("--prf-beta", type=unit_interval,
                   help="weight of the feedback documents' mean: normalise((1 - B) q + B mean) (default: 0.5)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("index", help="Index tools (see `tfsearch index build --help`).",
                       description="Build retrieval indexes.")
    index_sub = p.add_subparsers(dest="index_command", metavar="INDEX_COMMAND")
    index_sub.required = True
    b = index_sub.add_parser("build", help="Encode a BEIR corpus and build an index folder.",
                             description="Encode a BEIR corpus and write an index folder (atomically) with its ids, "
                                         "the encoder's fingerprint and, for ScaNN, the tuning report.")
    b.add_argument("--data", required=True, help="BEIR folder")
    b.add_argument("--output", required=True, help="index folder to create")
    b.add_argument("--backend", choices=["brute_force", "scann"], default="brute_force",
                   help="brute_force: exact, core TF ops (stock TF Serving); scann: approximate, needs ScaNN ops")
    b.add_argument("--quantization", choices=["none", "int8"], default="none",
                   help="brute_force: int8 scans int8 codes, then re-scores a shortlist exactly (default: none)")
    b.add_argument("--model", help="checkpoint folder or preset (default: all-MiniLM-L6-v2)")
    b.add_argument("--target-recall", type=fraction, default=0.95,
                   help="ScaNN: recall@k against exact search to reach at the highest speed (default: 0.95)")
    b.add_argument("-k", type=positive_int, default=10, help="results per query; recall is recall@k (default: 10)")
    b.add_argument("--batch-size", type=positive_int, default=64, help="texts per forward pass (default: 64)")
    b.add_argument("--max-length", type=positive_int, help="tokens per text (default: the checkpoint's, 256)")
    b.add_argument("--bf16", action="store_true", help="compute in bfloat16")
    b.add_argument("--overwrite", action="store_true", help="replace an existing index folder")
    b.add_argument("--no-progress", action="store_true", help="hide progress bars")
    b.set_defaults(func=cmd_index_build)

    p = sub.add_parser("train", help="Fine-tune the two towers on a BEIR split (tf.distribute, resumable).",
                       description="Fine-tune the query and document towers with in-batch softmax (global "
                                   "negatives across replicas), optional mined hard negatives, validation nDCG@10 "
                                   "for early stopping and best-model selection, and fault-tolerant backups. "
                                   "Running again on the same output resumes.")
    _add_train_flags(p)
    p.add_argument("--overwrite", action="store_true", help="delete the output folder first and train afresh")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="Export a SavedModel for TensorFlow Serving (next version under OUTPUT).",
                       description="Write OUTPUT/<next version>/ atomically: signatures serving_default = search "
                                   "(queries, k, diversity -> ids, scores, positions), encode_query, encode_document; "
                                   "the index and the diversity re-ranking layer are inside the graph. The op audit "
                                   "refuses ops the flavour's TensorFlow Serving lacks.")
    p.add_argument("--index", required=True, help="index folder (`tfsearch index build`); its backend is the flavour")
    p.add_argument("--output", required=True, help="model base path, e.g. saved_models/scifact")
    p.add_argument("--model", help="encoder (default: the one the index was built with)")
    p.add_argument("--method", choices=["mmr", "dpp"], default="mmr", help="re-ranking method (default: mmr)")
    p.add_argument("--candidates", type=positive_int, default=100, help="candidates re-ranked (default: 100)")
    p.add_argument("--max-k", type=positive_int, default=100, help="largest k a request may ask for (default: 100)")
    p.add_argument("--prf-documents", type=non_negative_int, default=0, metavar="M",
                   help="in-graph pseudo-relevance feedback: search expands each query with its top M documents and "
                        "searches again before re-ranking (default: 0, off)")
    p.add_argument("--prf-beta", type=unit_interval, default=0.5,
                   help="weight of the feedback documents' mean (default: 0.5)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="Serve an exported model over HTTP (TF Serving's REST API, /search, a page).",
                       description="Load the newest version under --model-base-path, switch to newer versions as "
                                   "they appear, and answer TensorFlow Serving's REST API, GET /search and a search "
                                   "page at /. Binds 127.0.0.1 unless told otherwise.")
    p.add_argument("--model-base-path", required=True, help="e.g. saved_models/scifact (`tfsearch export`)")
    p.add_argument("--model-name", help="the name in /v1/models/NAME (default: the folder's name)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=positive_int, default=8501, help="port (default: 8501, as TF Serving's REST)")
    p.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for a new version")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("search", help="Search an index folder with text queries.",
                       description="Embed queries with the index's encoder and print the top k.")
    p.add_argument("--index", required=True, help="index folder (`tfsearch index build`)")
    p.add_argument("--query", required=True, action="append", help="a query (repeatable)")
    p.add_argument("-k", type=positive_int, default=10, help="results per query (default: 10)")
    p.add_argument("--model", help="encoder (default: the one the index was built with)")
    p.set_defaults(func=cmd_search)

    from tfsearch.recommend.commands import add_parser as add_recommend_parser

    add_recommend_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_tensorflow()
    import tfsearch  # noqa: F401  (routes tf.keras to Keras 2 first)
    from tfsearch.data.beir import BeirFormatError
    from tfsearch.models.presets import CheckpointNotFoundError

    try:
        return args.func(args)
    except (BeirFormatError, CheckpointNotFoundError, FileExistsError, FileNotFoundError, ImportError,
            ValueError) as e:
        print(f"tfsearch {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was half-written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
