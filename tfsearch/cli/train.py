"""`tfsearch train`: fine-tune the two towers; its flags are `TrainConfig`'s fields, described there once."""

import argparse
import dataclasses
import json
import pathlib
import typing


def _flag_type(field):
    """The argparse type of a `TrainConfig` field: its annotation, `X` for `Optional[X]`, str for required ones."""
    if field.default is dataclasses.MISSING:
        return str
    arguments = [a for a in typing.get_args(field.type) if a is not type(None)]
    return arguments[0] if typing.get_origin(field.type) is typing.Union and len(arguments) == 1 else field.type


def add_train_flags(parser):
    """One flag per `TrainConfig` field (`--max-length` for `max_length`), all defaulting to None (= not given)."""
    from tfsearch.training.train_config import TrainConfig

    parser.add_argument("--config", help="JSON file of settings (flags override it)")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        help_text = field.metadata.get("help", field.name.replace("_", " "))
        if field.type is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{help_text} (default: {field.default})")
        else:
            given = field.default not in (dataclasses.MISSING, None)
            parser.add_argument(flag, type=_flag_type(field), default=None,
                                help=help_text + (f" (default: {field.default})" if given else ""))


def cmd_train(args):
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


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="Fine-tune the two towers on a BEIR split (tf.distribute, resumable).",
        description="Fine-tune the query and document towers with in-batch softmax (global negatives across "
                    "replicas), optional mined hard negatives, validation nDCG@10 for early stopping and best-model "
                    "selection, and fault-tolerant backups. Running again on the same output resumes.")
    add_train_flags(p)
    p.add_argument("--overwrite", action="store_true", help="delete the output folder first and train afresh")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_train)
