"""`tfsearch recommend ...`: convert MovieLens 100K, compare the text user tower with the ID baseline.

`tfsearch.cli` registers these with `add_parser(subparsers)`; errors raised as
`ValueError` / `FileNotFoundError` become its one-line message and exit code 2.
"""

import json

from tfsearch.cli.arg_types import positive_float, positive_int, positive_int_list, unit_interval_list

WORD_BUCKETS = 32768  # rows of the user tower's bag-of-words table (`--word-buckets`)


def cmd_convert_movielens(args):
    from tfsearch.recommend.movielens import convert_movielens_100k

    summary = convert_movielens_100k(args.src, args.out, overwrite=args.overwrite, encoding=args.encoding)
    print(f"Wrote {args.out}: {summary['num_items']} items (corpus.jsonl), {summary['num_interactions']} "
          f"interactions of {summary['num_users']} users (interactions.tsv).")
    return 0


def comparison_config(args):
    """The `ComparisonConfig` of `tfsearch recommend evaluate`'s flags."""
    from tfsearch.recommend.id_baseline import IdBaselineConfig
    from tfsearch.recommend.recommender_comparison import ComparisonConfig
    from tfsearch.recommend.user_tower_training import UserTowerConfig

    learning_rate = args.learning_rate or (5e-5 if args.train_encoder else 1e-3)
    return ComparisonConfig(
        data=args.data, model=args.model, max_length=args.max_length, num_test=args.num_test,
        min_rating=None if args.min_rating == 0 else args.min_rating, min_history=args.min_history,
        user_tower=UserTowerConfig(max_context=args.max_context, epochs=args.epochs, batch_size=args.batch_size,
                                   learning_rate=learning_rate, temperature=args.temperature,
                                   train_encoder=args.train_encoder,
                                   projection_dim=None if args.train_encoder else (args.projection_dim or None),
                                   word_buckets=(None if args.train_encoder or not args.projection_dim
                                                 else (args.word_buckets or None)),
                                   num_interests=args.num_interests,
                                   logq_correction=not args.no_logq,
                                   seed=args.seed),
        id_baseline=IdBaselineConfig(embedding_dim=args.id_dim, epochs=args.id_epochs, batch_size=args.id_batch_size,
                                     learning_rate=args.id_learning_rate, positives_only=not args.id_all_ratings,
                                     seed=args.seed),
        id_epochs_choices=() if args.id_no_selection else args.id_epochs_choices,
        aspect_field=args.aspect_field or None, diversities=tuple(args.diversity), candidates=args.candidates,
    )


def cmd_evaluate(args):
    from tfsearch.recommend.recommender_comparison import RESULTS_FILE, compare_recommenders, format_report

    config = comparison_config(args)
    report = compare_recommenders(config, output_dir=args.output, progress=not args.no_progress)
    print(format_report(report))
    if args.output:
        print(f"\nWrote {args.output}/{RESULTS_FILE} and {args.output}/comparison.md")
    if args.json:
        print(json.dumps({name: r["metrics"] for name, r in report["models"].items()}, indent=2))
    return 0


def add_parser(subparsers):
    """Registers `recommend convert-movielens` and `recommend evaluate` on the `tfsearch` sub-parsers.

    Example:
    ```python
    parser = argparse.ArgumentParser(prog="tfsearch")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["recommend", "convert-movielens", "ml-100k", "data/ml-100k-tfsearch"])
    args.func(args)
    ```
    """
    p = subparsers.add_parser("recommend", help="Text-based recommendation (see `tfsearch recommend --help`).",
                              description="A text-based recommender: the context-aware query tower as a user tower "
                                          "over the titles of the items a user liked.")
    sub = p.add_subparsers(dest="recommend_command", metavar="RECOMMEND_COMMAND")
    sub.required = True

    c = sub.add_parser("convert-movielens", help="Convert an ml-100k folder into a recommendation folder.",
                       description="Read u.data, u.item (latin-1) and u.genre from SRC (download ml-100k.zip from "
                                   "https://grouplens.org/datasets/movielens/100k/; it may not be redistributed) "
                                   "and write OUT/corpus.jsonl (items: title, 'Genres: ...', metadata.genre), "
                                   "OUT/interactions.tsv and OUT/dataset.json atomically.")
    c.add_argument("src", help="the ml-100k folder (u.data, u.item, u.genre)")
    c.add_argument("out", help="the recommendation folder to create")
    c.add_argument("--encoding", default="auto",
                   help="encoding of u.item and u.genre (default: auto = UTF-8 if valid, else latin-1)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    c.set_defaults(func=cmd_convert_movielens)

    e = sub.add_parser("evaluate", help="Train the text user tower and the tfrs ID baseline; compare them.",
                       description="Split the interactions leave-last-out (each user's latest positive held out), "
                                   "train the text user tower (ContextQueryTower over the titles of the user's "
                                   "liked items, tfrs Retrieval with in-batch negatives) and the ID-embedding "
                                   "two-tower of the tensorflow-recommenders basic retrieval tutorial on the same "
                                   "training interactions, and report R@10, R@100, nDCG@10 and alpha-nDCG@10 of "
                                   "both, plus an aspect re-ranking trade-off table.")
    e.add_argument("--data", required=True, help="recommendation folder (corpus.jsonl + interactions.tsv)")
    e.add_argument("--output", help="folder for recommend_results.json and comparison.md")
    e.add_argument("--model", help="text encoder folder or preset (default: all-MiniLM-L6-v2)")
    e.add_argument("--max-length", type=positive_int, default=32, help="tokens per item text (default: 32)")
    e.add_argument("--json", action="store_true", help="also print both models' metrics as JSON")
    e.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g = e.add_argument_group("split")
    g.add_argument("--num-test", type=positive_int, default=1, help="positives held out per user (default: 1)")
    g.add_argument("--min-rating", type=float, default=4.0,
                   help="ratings at or above are positive (default: 4; 0: every interaction)")
    g.add_argument("--min-history", type=int, default=1, help="positives needed before the held-out ones (default: 1)")
    g = e.add_argument_group("text user tower")
    g.add_argument("--max-context", type=positive_int, default=40, help="history titles read (default: 40)")
    g.add_argument("--num-interests", type=positive_int, default=1,
                   help="vectors per user; an item scores its best dot product with them (default: 1)")
    g.add_argument("--epochs", type=positive_int, default=10, help="epochs (default: 10)")
    g.add_argument("--batch-size", type=positive_int, default=128, help="batch size (default: 128)")
    g.add_argument("--learning-rate", type=positive_float,
                   help="peak learning rate (default: 1e-3, or 5e-5 with --train-encoder)")
    g.add_argument("--temperature", type=positive_float, default=0.05, help="softmax temperature (default: 0.05)")
    g.add_argument("--projection-dim", type=int, default=128,
                   help="with the frozen encoder: a trainable linear head of this size over the cached embeddings, "
                        "shared by items and history (default: 128; 0: none)")
    g.add_argument("--word-buckets", type=int, default=WORD_BUCKETS,
                   help="with the head: a trainable bag of hashed words added to it, the words' meaning learned "
                        f"from the interactions (default: {WORD_BUCKETS} buckets; 0: none)")
    g.add_argument("--no-logq", action="store_true",
                   help="no sampling-bias (logQ) correction of the in-batch negatives")
    g.add_argument("--train-encoder", action="store_true",
                   help="also fine-tune the text encoder (slow on CPUs); default: frozen, item embeddings cached")
    g = e.add_argument_group("ID baseline (tfrs basic retrieval tutorial)")
    g.add_argument("--id-dim", type=positive_int, default=32, help="embedding size (default: 32)")
    g.add_argument("--id-epochs", type=positive_int, default=20, help="epochs with --id-no-selection (default: 20)")
    g.add_argument("--id-epochs-choices", type=positive_int_list, default=(5, 10, 20, 40),
                   help="comma-separated epoch counts to choose from on a validation split carved out of the "
                        "training interactions, by R@100 (default: 5,10,20,40)")
    g.add_argument("--id-no-selection", action="store_true", help="train the ID baseline for --id-epochs, no choice")
    g.add_argument("--id-batch-size", type=positive_int, default=256, help="batch size (default: 256)")
    g.add_argument("--id-learning-rate", type=positive_float, default=0.1, help="Adagrad learning rate (default: 0.1)")
    g.add_argument("--id-all-ratings", action="store_true",
                   help="train on every interaction, as the tutorial does (default: positives only)")
    g = e.add_argument_group("evaluation")
    g.add_argument("--aspect-field", default="genre",
                   help="item metadata field of aspects for alpha-nDCG@10 and re-ranking (default: genre; '' for none)")
    g.add_argument("--diversity", type=unit_interval_list, default=[0.0, 0.25, 0.5, 0.75],
                   help="aspect re-ranking balances (default: 0,0.25,0.5,0.75)")
    g.add_argument("--candidates", type=positive_int, default=100, help="items retrieved per user (default: 100)")
    g.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    e.set_defaults(func=cmd_evaluate)
    return p
