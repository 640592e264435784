"""`tfsearch index build`: encode a BEIR corpus and write an index folder (exact, int8 or ScaNN)."""

import pathlib

from tfsearch.cli.arg_types import fraction, positive_int
from tfsearch.cli.common import add_model_flags, load_encoder


def cmd_index_build(args):
    from tfsearch.data.beir import BeirDataset
    from tfsearch.data.pipelines import corpus_dataset
    from tfsearch.index.index_building import build_index
    from tfsearch.index.scann_tuning import format_tuning_report
    from tfsearch.models.batch_encoding import encode_dataset, encode_texts
    from tfsearch.models.fingerprint import model_fingerprint

    if pathlib.Path(args.output).exists() and not args.overwrite:
        raise FileExistsError(f"{args.output} already exists; choose another path or pass --overwrite.")
    data = BeirDataset(args.data)
    total = data.count_documents()  # validates the corpus before the slow part
    encoder = load_encoder(args.model, args.max_length, precision=args.precision)
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
                "max_length": args.max_length, "precision": encoder.backbone.compute_dtype, "tuning": report}
    index.save(args.output, metadata=metadata, overwrite=args.overwrite)
    flavour = args.backend + (f" ({args.quantization})" if args.quantization != "none" else "")
    print(f"Wrote {flavour} index of {index.num_documents} documents to {args.output}")
    if report:
        print(format_tuning_report(report))
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser("index", help="Index tools (see `tfsearch index build --help`).",
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
    add_model_flags(b)
    b.add_argument("--target-recall", type=fraction, default=0.95,
                   help="ScaNN: recall@k against exact search to reach at the highest speed (default: 0.95)")
    b.add_argument("-k", type=positive_int, default=10, help="results per query; recall is recall@k (default: 10)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing index folder")
    b.add_argument("--no-progress", action="store_true", help="hide progress bars")
    b.set_defaults(func=cmd_index_build)
