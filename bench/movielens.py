"""Text user tower vs the tensorflow-recommenders ID baseline, leave-last-out, on MovieLens-100K-layout data.

By default the data is SYNTHETIC: `tfsearch.recommend.synthetic_movielens`
writes u.data / u.item (latin-1) / u.genre in the ml-100k layout (MovieLens
may not be redistributed and cannot be downloaded here), once per `--users`
value (1,000 items each), and the converter reads it exactly as it reads a
real ml-100k folder. For real figures pass `--ml100k PATH/TO/ml-100k` (your
own download).

For each dataset, in one run and on the same leave-last-out split
(`compare_recommenders`): the text user tower (`ContextQueryTower` over the
titles of the user's 20 latest liked items; all-MiniLM-L6-v2 frozen and
cached, a 128-d projection head and the fusion weights trained with tfrs'
`Retrieval` task, in-batch negatives with logQ correction) and the
ID-embedding two-tower of tfrs' basic retrieval tutorial (32-d, Adagrad 0.1,
its epochs chosen among 10/20/40 on a validation split carved out of the
training interactions).

The text tower's settings were explored on synthetic data of seed 0; the
default `--seed 1` generates data that played no part in choosing them.

Writes `bench/results/movielens.json` (atomically).

Usage:
    python bench/movielens.py [--users 600,150] [--items 1000] [--seed 1] [--threads 2] [--ml100k DIR]
"""

import argparse
import json
import pathlib
import platform
import shlex
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench_common import import_tensorflow  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ml100k", help="a real ml-100k folder (default: generate synthetic datasets)")
    parser.add_argument("--users", default="600,150", help="synthetic users, one dataset per value (default: 600,150)")
    parser.add_argument("--items", type=int, default=1000, help="synthetic items (default: 1000)")
    parser.add_argument("--seed", type=int, default=1, help="data and training seed (default: 1)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", help="text encoder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--epochs", type=int, default=10, help="user tower epochs (default: 10)")
    parser.add_argument("--projection-dim", type=int, default=128, help="head over the frozen encoder (0: none)")
    parser.add_argument("--max-context", type=int, default=20, help="history titles read (default: 20)")
    parser.add_argument("--diversity-num-test", type=int, default=3,
                        help="positives held out per user in the extra run on the first dataset for the aspect "
                             "re-ranking trade-off (alpha-nDCG needs several relevant items; 0: skip)")
    parser.add_argument("--work", default=str(HERE / ".runs" / "movielens"), help="working folder")
    parser.add_argument("--output", default=str(HERE / "results" / "movielens.json"))
    args = parser.parse_args(argv)
    command = "python bench/movielens.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))

    import_tensorflow(args.threads)
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.recommend.recommender_comparison import (ID_MODEL, TEXT_MODEL, ComparisonConfig, compare_recommenders,
                                                          format_report)
    from tfsearch.recommend.movielens import convert_movielens_100k
    from tfsearch.recommend.synthetic_movielens import write_synthetic_movielens
    from tfsearch.recommend.user_tower_training import UserTowerConfig
    from tfsearch.utils.atomic import atomic_write_text

    started = time.perf_counter()
    work = pathlib.Path(args.work)
    encoder = BertEncoder.from_pretrained(args.model, sequence_length=32)
    sources = ([("ml-100k", pathlib.Path(args.ml100k), None)] if args.ml100k else
               [(f"synthetic-{n}-users", work / f"ml-synthetic-{n}", int(n)) for n in args.users.split(",")])
    datasets = []

    def settings(data_dir, num_test=1):
        config = ComparisonConfig(
            data=str(data_dir), model=args.model, max_length=32, num_test=num_test,
            user_tower=UserTowerConfig(epochs=args.epochs, projection_dim=args.projection_dim or None,
                                       max_context=args.max_context, seed=args.seed),
            id_epochs_choices=(10, 20, 40),
        )
        config.id_baseline.seed = args.seed
        return config

    for name, source, num_users in sources:
        generator = None
        if num_users is not None:
            generator = write_synthetic_movielens(source, num_users=num_users, num_items=args.items, seed=args.seed,
                                                  overwrite=True)
        data_dir = work / f"{name}-tfsearch"
        summary = convert_movielens_100k(source, data_dir, overwrite=True)
        report = compare_recommenders(settings(data_dir), progress=False, encoder=encoder)
        print(f"\n== {name} ==\n" + format_report(report), flush=True)
        text, ids = report["models"][TEXT_MODEL], report["models"][ID_MODEL]
        datasets.append({
            "name": name,
            "synthetic": generator is not None,
            "generator": generator,
            "dataset": {k: summary[k] for k in ("num_items", "num_users", "num_interactions")},
            "split": report["split"],
            "text_user_tower": {k: text[k] for k in ("metrics", "by_item_frequency", "tradeoff", "training")},
            "id_baseline": {k: ids[k] for k in ("metrics", "by_item_frequency", "tradeoff", "training")},
            "text_minus_id": report["text_minus_id"],
            "text_beats_id_on_R@100": text["metrics"]["R@100"] > ids["metrics"]["R@100"],
            "seconds": report["seconds"],
        })
    diversity_run = None
    if args.diversity_num_test:
        name = sources[0][0]
        report = compare_recommenders(settings(work / f"{name}-tfsearch", args.diversity_num_test), progress=False,
                                      encoder=encoder)
        print(f"\n== {name}, {args.diversity_num_test} held out per user ==\n" + format_report(report), flush=True)
        diversity_run = {
            "dataset": name, "num_test": args.diversity_num_test, "split": report["split"],
            "text_user_tower": {k: report["models"][TEXT_MODEL][k] for k in ("metrics", "tradeoff")},
            "id_baseline": {k: report["models"][ID_MODEL][k] for k in ("metrics", "tradeoff")},
            "text_minus_id": report["text_minus_id"],
        }
    result = {
        "command": command,
        "note": ("SYNTHETIC data in the MovieLens-100K layout written by tfsearch.recommend.synthetic_movielens; "
                 "NOT MovieLens. Figures say nothing about MovieLens; run with --ml100k on your own download."
                 if not args.ml100k else "MovieLens 100K (user's download)"),
        "models": {"text_user_tower": TEXT_MODEL, "id_baseline": ID_MODEL},
        "datasets": datasets,
        "diversity_run": diversity_run,
        "environment": {"threads": args.threads, "python": platform.python_version(), "machine": platform.machine()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    output = pathlib.Path(args.output)
    atomic_write_text(output, json.dumps(result, indent=2) + "\n")
    for d in datasets:
        print(f"{d['name']}: R@100 text {d['text_user_tower']['metrics']['R@100']:.4f} vs ID "
              f"{d['id_baseline']['metrics']['R@100']:.4f}")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
