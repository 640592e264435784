"""`tfsearch encode`: encode a corpus on Apache Beam into embedding shards with a manifest."""

import argparse

EPILOG = """\
Every other option is passed to Apache Beam as a pipeline option, for example
  --direct_num_workers 2 --direct_running_mode multi_processing   (the DirectRunner on 2 local processes)
  --runner DataflowRunner --project P --region R --temp_location gs://B/tmp   (Google Cloud Dataflow)
  --runner FlinkRunner --flink_master HOST:8081   or   --runner SparkRunner ...
Remote runners need --data and --output on storage their workers read (gs://...); there the shards are
written into OUTPUT and manifest.json, written last, commits the set. A local OUTPUT appears only complete.
"""


def cmd_encode(args):
    from tfsearch.embeddings.beam_encoding import encode_corpus

    manifest = encode_corpus(args.data, args.output, model=args.model, export=args.export,
                             batch_size=args.batch_size, max_length=args.max_length, precision=args.precision,
                             pipeline_args=args.pipeline_args, num_shards=args.num_shards,
                             progress=not args.no_progress, overwrite=args.overwrite)
    seconds = manifest.get("seconds") or 0
    rate = f", {manifest['count'] / seconds:.1f} documents/s" if seconds else ""
    print(f"Wrote {manifest['count']} embeddings of {manifest['embedding_dim']} floats in "
          f"{len(manifest['shards'])} shard(s) to {args.output} ({manifest['pipeline']['runner']}, "
          f"{seconds:.1f} s{rate}); encoder fingerprint {manifest['encoder_fingerprint']}.")
    return 0


def add_parser(subparsers):
    from tfsearch.cli.arg_types import positive_int
    from tfsearch.cli.common import add_model_flags

    p = subparsers.add_parser(
        "encode", help="Encode a corpus on Apache Beam into embedding shards (TFRecord + manifest).",
        description="Encode a BEIR corpus (a folder's corpus.jsonl, or a glob of JSONL shards) with the document\n"
                    "encoder on Apache Beam (RunInference), writing TFRecord shards of (id, embedding) and a\n"
                    "manifest.json with the encoder fingerprint, count and dimension. Runs on the DirectRunner by\n"
                    "default; Beam pipeline options (--runner ... and the runner's own) pass through: see below.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    p.add_argument("--data", required=True, help="BEIR folder, or a glob of JSONL files in BEIR corpus format "
                                                 "(_id, title, text), e.g. 'shards/corpus-*.jsonl'")
    p.add_argument("--output", required=True, help="folder to write (local, or gs://... for remote runners)")
    add_model_flags(p)
    p.add_argument("--export", help="a SavedModel version folder of `tfsearch export` (e.g. saved_models/NAME/1): "
                                    "encode with its encode_document signature instead of --model")
    p.add_argument("--num-shards", type=positive_int, default=0,
                   help="shards to write (default: as the runner chooses)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--no-progress", action="store_true", help="do not show documents done and documents/s")
    p.set_defaults(func=cmd_encode, pipeline_args=[])
