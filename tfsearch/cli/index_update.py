"""`tfsearch index update`: add, replace and delete documents of an index folder into a new folder."""

from tfsearch.cli.arg_types import positive_int


def cmd_index_update(args):
    from tfsearch.index.index_updates import update_index_folder

    record = update_index_folder(args.index, args.output, add=args.add, delete=args.delete, rebalance=args.rebalance,
                                 overwrite=args.overwrite, batch_size=args.batch_size, progress=not args.no_progress)
    print(f"Wrote {record['backend']} index of {record['num_documents']} documents to {args.output} "
          f"(from {record['num_documents_before']}: {record['added']} added, {record['replaced']} replaced, "
          f"{record['deleted']} deleted; {args.index} is unchanged)")
    if record["backend"] == "scann":
        print(f"Rebalance: {record['rebalance_reason']}")
    print(f"Next: tfsearch export --index {args.output} --output <model base path> (the next SavedModel version)")
    return 0


def add_update_parser(index_sub):
    """Registers `tfsearch index update` under `tfsearch index`."""
    u = index_sub.add_parser(
        "update", help="Add, replace and delete documents of an index, into a new index folder.",
        description="Add (new ids), replace (ids the index holds) and delete documents without re-encoding the "
                    "rest, writing a new index folder atomically; the input folder is not changed. Exact and int8 "
                    "indexes are rewritten row by row (equal to a fresh build); ScaNN through its own upsert and "
                    "delete, rebalanced by the rule of docs/guides/indexes.md. Embeddings from another encoder "
                    "than the index's are refused.")
    u.add_argument("--index", required=True, help="index folder to update (not modified)")
    u.add_argument("--add", metavar="CORPUS_JSONL_OR_MANIFEST",
                   help="documents to add or replace: a corpus.jsonl (encoded with the index's encoder) or an "
                        "embedding shard set (`tfsearch encode`) of the same encoder")
    u.add_argument("--delete", metavar="IDS_TXT", help="ids to delete, one per line; all must be in the index")
    u.add_argument("--output", required=True, help="new index folder")
    u.add_argument("--rebalance", choices=["auto", "always", "never"], default="auto",
                   help="ScaNN: retrain the partitioning from the current rows; auto (default) does when the rows "
                        "updated since training exceed REBALANCE_FRACTION (0.1) of the index")
    u.add_argument("--batch-size", type=positive_int, default=64, help="texts per forward pass (default: 64)")
    u.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    u.add_argument("--no-progress", action="store_true", help="hide progress bars")
    u.set_defaults(func=cmd_index_update)
