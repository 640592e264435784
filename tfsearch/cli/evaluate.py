"""`tfsearch evaluate`: retrieval metrics on a BEIR split, a diversity trade-off, or hybrid runs side by side."""

from tfsearch.cli.arg_types import non_negative_float, non_negative_int, positive_int, unit_interval, unit_interval_list
from tfsearch.cli.common import add_model_flags, load_document_encoder, load_encoder


def cmd_evaluate(args):
    from tfsearch.data.beir import BeirDataset
    from tfsearch.eval.metrics import parse_measures
    from tfsearch.eval.retrieval_evaluation import evaluate_retrieval

    parse_measures(args.measures)  # fail fast, before any encoding
    hybrid = _check_hybrid_flags(args)
    data = BeirDataset(args.data)
    qrels = data.qrels(args.split)  # validates the data before the slow part
    encoder = load_encoder(args.model, args.max_length, precision=args.precision)
    if args.rerank:
        return _evaluate_tradeoff(args, encoder, data, qrels)
    index = None
    if args.index:
        from tfsearch.index.index_building import load_index
        from tfsearch.models.fingerprint import model_fingerprint

        index, _ = load_index(args.index, encoder_fingerprint=model_fingerprint(encoder))
        args.top_k = min(args.top_k, index.num_documents)
    common = dict(split=args.split, output_dir=args.output, top_k=args.top_k, measures=args.measures,
                  batch_size=args.batch_size, progress=not args.no_progress, qrels=qrels, index=index,
                  document_encoder=load_document_encoder(args.model, args.max_length, precision=args.precision))
    if hybrid:
        return _evaluate_hybrid(args, encoder, data, common)
    result = evaluate_retrieval(encoder, data, aspect_field=args.aspect_field, **common)
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


def _evaluate_hybrid(args, encoder, data, common):
    from tfsearch.hybrid import evaluate_hybrid
    from tfsearch.hybrid.hybrid_evaluation import RUN_FOLDERS

    # Flags left unset (None, so that a flag of another mode can be refused) keep the library's defaults.
    given = {name: getattr(args, name) for name in ("rrf_k", "fusion_weight", "prf_beta")
             if getattr(args, name) is not None}
    result = evaluate_hybrid(encoder, data, fusion=args.hybrid, prf_documents=args.prf_documents, **given, **common)
    print(result.format_table())
    if args.output:
        folders = ", ".join(f"{RUN_FOLDERS[name]}/" for name in result.runs)
        print(f"Wrote run.trec, metrics.json and info.json in {args.output}/ {folders}, and {args.output}/metrics.json")
    return 0


def _evaluate_tradeoff(args, encoder, data, qrels):
    from tfsearch.eval.diversity_tradeoff import TradeoffConfig, diversity_tradeoff

    given = {} if args.diversity is None else {"diversities": tuple(args.diversity)}
    config = TradeoffConfig(method=args.rerank, candidates=args.candidates, k=args.rerank_k,
                            aspect_field=args.aspect_field, batch_size=args.batch_size, **given)
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


def add_parser(subparsers):
    from tfsearch.eval.metrics import DEFAULT_MEASURES

    p = subparsers.add_parser(
        "evaluate", help="Evaluate retrieval on a BEIR split (nDCG@10, R@100, ...).",
        description="Encode corpus and queries, retrieve the top k exactly, write OUT/run.trec and "
                    "OUT/metrics.json, and print the metrics.")
    p.add_argument("--data", required=True, help="BEIR folder")
    p.add_argument("--split", default="test", help="qrels split (default: test)")
    p.add_argument("--output", help="output folder for run.trec, metrics.json, info.json")
    p.add_argument("--top-k", type=positive_int, default=1000, help="results per query (default: 1000)")
    add_model_flags(p)
    p.add_argument("--measures", nargs="+", default=list(DEFAULT_MEASURES),
                   help=f"ir-measures names (default: {' '.join(DEFAULT_MEASURES)})")
    p.add_argument("--index", help="evaluate through this index folder (`tfsearch index build`) instead of "
                                   "building an exact one; refused if built with another encoder")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g = p.add_argument_group("diversity re-ranking (relevance/diversity trade-off)")
    g.add_argument("--rerank", choices=["mmr", "dpp", "aspects"],
                   help="re-rank the exact top --candidates at each --diversity and write the trade-off table and "
                        "plot (OUT/tradeoff.md, tradeoff.png, tradeoff.json)")
    g.add_argument("--diversity", type=unit_interval_list, 
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
                        "dense run: rrf = reciprocal-rank fusion, linear = convex combination of scores min-max "
                        "normalised per query; writes OUT/dense/, OUT/bm25/, OUT/fused/ (run.trec, metrics.json) "
                        "and OUT/metrics.json")
    g.add_argument("--rrf-k", type=non_negative_float, help="RRF constant: score = sum 1/(k + rank) (default: 60)")
    g.add_argument("--fusion-weight", type=unit_interval,
                   help="--hybrid linear: the dense score's share in [0, 1] (default: 0.5)")
    g.add_argument("--prf-documents", type=non_negative_int, default=0, metavar="M",
                   help="pseudo-relevance feedback: expand each dense query with its top M documents and search "
                        "again (reported as dense+prf; fused instead of plain dense) (default: 0, off)")
    g.add_argument("--prf-beta", type=unit_interval,
                   help="weight of the feedback documents' mean: normalise((1 - B) q + B mean) (default: 0.5)")
    p.set_defaults(func=cmd_evaluate)
