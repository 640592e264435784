"""`tfsearch export`: write the next SavedModel version of an index for TensorFlow Serving."""

from tfsearch.cli.arg_types import non_negative_int, positive_int, unit_interval
from tfsearch.cli.common import PRECISIONS, corpus_titles, index_and_encoder, load_document_encoder


def cmd_export(args):
    from tfsearch.export import export_search_model
    from tfsearch.export.saved_model_export import BATCHABLE_SIGNATURE
    from tfsearch.index.index_building import exportable_index

    built, model, encoder, index = index_and_encoder(args.index, args.model, precision=args.precision)
    document_encoder = load_document_encoder(model, built.get("max_length"), precision=args.precision)
    index = exportable_index(index)
    # Flags left unset keep the export's own defaults (`tfsearch.export`).
    given = {name: getattr(args, flag) for name, flag in (("num_candidates", "candidates"), ("max_k", "max_k"),
                                                           ("prf_beta", "prf_beta"),
                                                           ("encoding_chunk_size", "encoding_chunk_size"))
             if getattr(args, flag) is not None}
    if args.for_batching:  # a batching TensorFlow Serving fails a version whose warm-up it cannot batch
        given["warmup_signature"] = BATCHABLE_SIGNATURE
    version_dir, audit = export_search_model(
        encoder, index, args.output, document_encoder=document_encoder, method=args.method,
        metadata={"model": model, "index": str(args.index), "encoder_fingerprint": built.get("encoder_fingerprint")},
        titles=corpus_titles(built.get("data"), text_chars=80) or None, prf_documents=args.prf_documents, **given)
    flavour = "brute_force" if not audit["scann"] else "scann"
    print(f"Wrote {version_dir} ({flavour}, {encoder.backbone.compute_dtype} encoder; signatures serving_default = "
          "search, encode_query, encode_document, search_embeddings)")
    if args.prf_documents:
        beta = "" if args.prf_beta is None else f" (beta {args.prf_beta})"
        print(f"search expands each query with its top {args.prf_documents} documents{beta} before retrieving the "
              "candidates")
    print(f"Ops outside core TensorFlow: {', '.join(audit['custom_ops']) or 'none'} (assets.extra/op_audit.json)")
    print(f"Batching (TensorFlow Serving --enable_batching): signature search_batchable, "
          f"{version_dir}/batching_params.pbtxt")
    if flavour == "scann":
        print("This export needs a TensorFlow Serving build with ScaNN's ops; stock TensorFlow Serving cannot load "
              "it (export a brute_force index for that).")
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser(
        "export", help="Export a SavedModel for TensorFlow Serving (next version under OUTPUT).",
        description="Write OUTPUT/<next version>/ atomically: signatures serving_default = search (queries, k, "
                    "diversity -> ids, scores, positions), encode_query, encode_document; the index and the "
                    "diversity re-ranking layer are inside the graph. The op audit refuses ops the flavour's "
                    "TensorFlow Serving lacks.")
    p.add_argument("--index", required=True, help="index folder (`tfsearch index build`); its backend is the flavour")
    p.add_argument("--output", required=True, help="model base path, e.g. saved_models/scifact")
    p.add_argument("--model", help="encoder (default: the one the index was built with)")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="the encoder's compute precision inside the SavedModel: float32 runs at full speed on any "
                        "machine; bfloat16 runs faster where bfloat16 is native (CPUs with AVX512-BF16 or "
                        "AMX-BF16, recent GPUs, TPUs) and slower elsewhere; auto picks for the processor of the "
                        "machine exporting, so export on (or for) the serving machine (default: the checkpoint's "
                        "own, float32)")
    p.add_argument("--method", choices=["mmr", "dpp"], default="mmr", help="re-ranking method (default: mmr)")
    p.add_argument("--candidates", type=positive_int, help="candidates re-ranked (default: 100)")
    p.add_argument("--max-k", type=positive_int, help="largest k a request may ask for (default: 100)")
    p.add_argument("--prf-documents", type=non_negative_int, default=0, metavar="M",
                   help="in-graph pseudo-relevance feedback: search expands each query with its top M documents and "
                        "searches again before re-ranking (default: 0, off)")
    p.add_argument("--prf-beta", type=unit_interval, help="weight of the feedback documents' mean (default: 0.5)")
    p.add_argument("--encoding-chunk-size", type=non_negative_int, metavar="N",
                   help="texts per encoder call inside one call of a signature: sorted by token length, each chunk "
                        "padded to its own longest (default: 4; 0: the whole batch padded to its longest)")
    p.add_argument("--for-batching", action="store_true",
                   help="for TensorFlow Serving with --enable_batching: warm up through search_batchable (every "
                        "input per query), the signature such a server can batch; see batching_params.pbtxt")
    p.set_defaults(func=cmd_export)
