"""`tfsearch index build`: encode a BEIR corpus, or read embedding shards, and write an index folder (exact, int8 or
ScaNN; auto by size). `tfsearch index update` is in `index_update`."""

import pathlib

from tfsearch.cli.arg_types import fraction, partition, positive_int
from tfsearch.cli.common import add_model_flags, load_encoder
from tfsearch.cli.index_update import add_update_parser


def _judged_split(data, requested):
    """The split whose judged queries check a ScaNN build's nDCG@10: `requested`, or train, dev, test (first found)."""
    if requested == "none":
        return None
    if requested is not None:
        if requested not in data.splits:
            raise ValueError(f"--judged-split {requested}: {data.path} has qrels for {data.splits or 'no split'}.")
        return requested
    return next((s for s in ("train", "dev", "test") if s in data.splits), None)


def _build_scann(args, data, encoder, embeddings, doc_ids):
    """ScaNN: nDCG@10-checked on held-out judged queries where there are some (and no --target-recall)."""
    from tfsearch.eval.index_quality import NDCG_TOLERANCE, build_scann_for_beir, format_ndcg_guard
    from tfsearch.index.index_building import build_index
    from tfsearch.index.scann_tuning import DEFAULT_TARGET_RECALL
    from tfsearch.models.batch_encoding import encode_texts

    def encode(texts, what="judged and tuning queries"):
        return encode_texts(encoder, texts, batch_size=args.batch_size, progress=not args.no_progress,
                            description=f"encoding {what}") if texts else None

    split = _judged_split(data, args.judged_split) if args.target_recall is None else None
    if split is not None:
        print(f"Tuning ScaNN for recall@{args.k}, raising the target until nDCG@10 on held-out judged {split} "
              f"queries is within {NDCG_TOLERANCE} of exact search ...", flush=True)
        index, report = build_scann_for_beir(data, split, encode, embeddings, doc_ids, k=args.k)
        return index, report, format_ndcg_guard(report["ndcg_guard"])
    target = DEFAULT_TARGET_RECALL if args.target_recall is None else args.target_recall
    texts = [q.text for q in data.queries().values()][:500]
    print(f"Tuning ScaNN for recall@{args.k} >= {target} on {len(texts) or 'sampled'} queries"
          + (" (no judged queries: the default target, measured on SciFact)" if args.target_recall is None else "")
          + " ...", flush=True)
    index, report = build_index(embeddings, doc_ids, backend="scann", k=args.k, target_recall=target,
                                tuning_queries=encode(texts, "tuning queries"))
    return index, report, None


def _build_from_shards(args, quantization):
    """`--embeddings`: the index from a shard set, without texts or encoder; the encoder settings come from it."""
    from tfsearch.embeddings.embedding_shards import PARTITION_HASH, read_embeddings, read_manifest
    from tfsearch.index.index_building import build_index, choose_backend
    from tfsearch.index.scann_tuning import DEFAULT_TARGET_RECALL

    given = [flag for flag, value in (("--model", args.model), ("--max-length", args.max_length),
                                      ("--judged-split", args.judged_split)) if value is not None]
    if given:
        raise ValueError(f"{', '.join(given)}: not used with --embeddings (the shard set records its encoder and "
                         "holds no queries); leave them out.")
    manifest, part = read_manifest(args.embeddings), args.partition
    # Partitioned, the count is known once the ids are read: an int8 + ScaNN error on an estimate first.
    choice = choose_backend(manifest["count"] // (part[1] if part else 1), args.backend, quantization)
    if part is None:
        print(f"Backend: {choice['reason']}", flush=True)
    doc_ids, embeddings = read_embeddings(manifest, progress=not args.no_progress, partition=part)  # one matrix
    if part is not None:
        if not doc_ids:
            raise ValueError(f"--partition {part[0]}/{part[1]}: no document of the {manifest['count']:,} in "
                             f"{manifest['folder']} falls in it; use fewer partitions.")
        choice = choose_backend(len(doc_ids), args.backend, quantization)
        print(f"Partition {part[0]}/{part[1]} ({PARTITION_HASH} of the id): {len(doc_ids):,} of "
              f"{manifest['count']:,} documents\nBackend: {choice['reason']}", flush=True)
    target = None
    if choice["backend"] == "scann":
        target = DEFAULT_TARGET_RECALL if args.target_recall is None else args.target_recall
        print(f"Tuning ScaNN for recall@{args.k} >= {target} on {min(500, len(doc_ids))} sampled document "
              "embeddings (the shards hold no queries" + ("; the default target, measured on SciFact)"
                                                         if args.target_recall is None else ")") + " ...", flush=True)
    index, report = build_index(embeddings, doc_ids, backend=choice["backend"], k=args.k, target_recall=target,
                                quantization=quantization)
    metadata = {key: manifest.get(key) for key in ("encoder_fingerprint", "model", "max_length", "precision")}
    metadata.update(embeddings=manifest["folder"], data=manifest.get("source"), tuning=report, backend_choice=choice)
    if part is not None:
        metadata["partition"] = {"index": part[0], "count": part[1], "hash": PARTITION_HASH}
    return index, report, metadata, choice


def cmd_index_build(args):
    from tfsearch.data.beir import BeirDataset
    from tfsearch.data.pipelines import corpus_dataset
    from tfsearch.index.index_building import build_index, choose_backend
    from tfsearch.models.batch_encoding import encode_dataset
    from tfsearch.models.fingerprint import model_fingerprint

    if pathlib.Path(args.output).exists() and not args.overwrite:
        raise FileExistsError(f"{args.output} already exists; choose another path or pass --overwrite.")
    quantization = None if args.quantization == "none" else args.quantization
    if args.partition is not None and args.embeddings is None:
        raise ValueError("--partition: only with --embeddings (a shard set is split by id; --data is not).")
    if args.embeddings is not None:
        index, report, metadata, choice = _build_from_shards(args, quantization)
        index.save(args.output, metadata=metadata, overwrite=args.overwrite)
        return _print_built(args, index, choice, report, None)
    data = BeirDataset(args.data)
    total = data.count_documents()  # validates the corpus before the slow part
    choice = choose_backend(total, args.backend, quantization)  # an int8 + ScaNN error comes before encoding
    print(f"Backend: {choice['reason']}", flush=True)
    encoder = load_encoder(args.model, args.max_length, precision=args.precision)
    doc_ids, embeddings = encode_dataset(encoder, corpus_dataset(data), batch_size=args.batch_size, total=total,
                                         progress=not args.no_progress, description="encoding corpus")
    guard_line = None
    if choice["backend"] == "scann":
        index, report, guard_line = _build_scann(args, data, encoder, embeddings, doc_ids)
    else:
        index, report = build_index(embeddings, doc_ids, backend="brute_force", k=args.k, quantization=quantization)
    metadata = {"encoder_fingerprint": model_fingerprint(encoder), "model": args.model, "data": str(data.path),
                "max_length": args.max_length, "precision": encoder.backbone.compute_dtype, "tuning": report,
                "backend_choice": choice}
    index.save(args.output, metadata=metadata, overwrite=args.overwrite)
    return _print_built(args, index, choice, report, guard_line)


def _print_built(args, index, choice, report, guard_line):
    from tfsearch.index.scann_tuning import format_tuning_report

    flavour = choice["backend"] + (f" ({args.quantization})" if args.quantization != "none" else "")
    print(f"Wrote {flavour} index of {index.num_documents} documents to {args.output}")
    if report:
        print(format_tuning_report(report))
    if guard_line:
        print(guard_line)
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser("index", help="Index tools (see `tfsearch index build --help`).",
                              description="Build and update retrieval indexes.")
    index_sub = p.add_subparsers(dest="index_command", metavar="INDEX_COMMAND")
    index_sub.required = True
    b = index_sub.add_parser("build", help="Encode a BEIR corpus (or read embedding shards) and build an index folder.",
                             description="Encode a BEIR corpus (--data), or read the embedding shards of `tfsearch "
                                         "encode` (--embeddings), and write an index folder (atomically) with its "
                                         "ids, the encoder's fingerprint and, for ScaNN, the tuning report.")
    source = b.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="BEIR folder, encoded here")
    source.add_argument("--embeddings", metavar="MANIFEST_OR_DIR",
                        help="embedding shard set (`tfsearch encode`): no texts, no encoder; ScaNN is tuned on "
                             "sampled document embeddings")
    b.add_argument("--partition", type=partition, default=None, metavar="I/N",
                   help="with --embeddings: index only partition I of N (0 <= I < N), the documents whose id "
                        "hashes to I (blake2b-64 mod N, `partition_of`); one model each, merged by the client "
                        "(`tfsearch.index.merge_top_k`)")
    b.add_argument("--output", required=True, help="index folder to create")
    b.add_argument("--backend", choices=["auto", "brute_force", "scann"], default="auto",
                   help="auto (default): exact search below the corpus size where ScaNN is measured to be twice as "
                        "fast (AUTO_SCANN_MIN_DOCUMENTS, bench/results/backend_crossover.json), ScaNN from there; "
                        "brute_force: exact, core TF ops (stock TF Serving); scann: approximate, needs ScaNN ops")
    b.add_argument("--quantization", choices=["none", "int8"], default="none",
                   help="brute_force: int8 scans int8 codes, then re-scores a shortlist exactly (default: none); "
                        "an error where ScaNN is chosen, by name or by auto")
    add_model_flags(b)
    b.add_argument("--target-recall", type=fraction, default=None,
                   help="ScaNN: recall@k against exact search to reach at the highest speed. Default: the lowest "
                        "of 0.99, 0.995, 0.999 keeping nDCG@10 within 0.005 of exact search on held-out judged "
                        "queries (--judged-split), or without judged queries 0.99 (measured on SciFact)")
    b.add_argument("--judged-split", default=None,
                   help="ScaNN without --target-recall: the qrels split whose queries (half held out) check "
                        "nDCG@10; default train, dev or test, the first present; none: skip the check")
    b.add_argument("-k", type=positive_int, default=10, help="results per query; recall is recall@k (default: 10)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing index folder")
    b.add_argument("--no-progress", action="store_true", help="hide progress bars")
    b.set_defaults(func=cmd_index_build)
    add_update_parser(index_sub)
