"""Fine-tunes all-MiniLM-L6-v2 on SciFact train and evaluates on SciFact test, on this machine's CPUs.

Runs `tfsearch.training.train` with the committed configuration
(`bench/configs/train_scifact.json`: in-batch softmax with one mined hard
negative per query, validation nDCG@10 on held-out training queries for
best-model selection), then `evaluate_retrieval` on the test split. With
`sentence-transformers` installed (`make bench`), it also times one epoch of
its `MultipleNegativesRankingLoss` on the same pairs (with the same hard
negatives), batch size, sequence length and thread count, in a separate
process, and reports tfsearch's training examples per second over it.

`--emulate-cpu avx2` runs the same on this machine as an AVX2-only CPU (AMD
Zen 3) would (as `bench/encode.py --emulate-cpu avx2`): the whole run, the
sentence-transformers timing included, goes to a child process whose oneDNN,
MKL and torch kernels are limited to AVX2, with the oneDNN setting
`tfsearch.utils.onednn` makes on such a CPU, and a `"auto"` precision is
resolved from that CPU's flags (float32). The result file records
`emulated_cpu`.

Writes `bench/results/train_scifact.json` (atomically;
`train_scifact_emulated_avx2.json` with `--emulate-cpu avx2`).

Usage:
    python bench/train_scifact.py [--config bench/configs/train_scifact.json] [--threads 2] [--zero-shot]
                                  [--emulate-cpu avx2]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import (  # noqa: E402
    EMULATIONS,
    REPO,
    RESULTS,
    emulation_environment,
    import_tensorflow,
    machine_description,
    run_in_subprocess,
    write_result,
)

ST_SCRIPT = r"""
import json, sys, time
import torch
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
torch.manual_seed(0)
from sentence_transformers import SentenceTransformer
from sentence_transformers.losses import MultipleNegativesRankingLoss
pairs = json.load(open(args["pairs"]))
model = SentenceTransformer(args["model"], device="cpu")
model.max_seq_length = args["max_length"]
loss = MultipleNegativesRankingLoss(model, scale=1.0 / args["temperature"])
optimizer = torch.optim.AdamW(model.parameters(), lr=args["learning_rate"])
model.train()
b = args["batch_size"]
steps = len(pairs["queries"]) // b
columns = ["queries", "documents"] + (["negatives"] if pairs.get("negatives") else [])
start = time.perf_counter()
for step in range(steps):
    features = []
    for column in columns:
        texts = pairs[column][step * b:(step + 1) * b]
        if column == "negatives":
            texts = [t for row in texts for t in row]
        features.append({k: v for k, v in model.tokenize(texts).items()})
    value = loss(features, None)
    value.backward()
    optimizer.step()
    optimizer.zero_grad()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "steps": steps, "examples": steps * b, "torch": torch.__version__}))
"""


def time_sentence_transformers(pairs, config, threads, max_length, workdir):
    try:
        import sentence_transformers
    except ImportError:
        return {"skipped": "sentence-transformers is not installed (run `make bench`)"}
    from tfsearch.models.presets import preset_dir

    payload = {"queries": pairs.queries, "documents": pairs.documents}
    if pairs.hard_negatives is not None:
        payload["negatives"] = pairs.hard_negatives
    (workdir / "pairs.json").write_text(json.dumps(payload))
    args = {"threads": threads, "model": str(preset_dir()), "pairs": str(workdir / "pairs.json"),
            "batch_size": config.batch_size, "max_length": max_length, "temperature": config.temperature,
            "learning_rate": config.learning_rate}
    result, skipped = run_in_subprocess(ST_SCRIPT, args, threads)
    if skipped:
        return skipped
    result["examples_per_second"] = result["examples"] / result["seconds"]
    result["version"] = sentence_transformers.__version__
    return result


_EMULATED = "TFSEARCH_BENCH_EMULATED_CPU"  # set in the child process of `--emulate-cpu`


def _run_emulated(emulation, name, argv):
    """Runs this script again in a child process with the emulated CPU's kernel limits; its exit code."""
    variables, why = emulation_environment(emulation)
    print(f"oneDNN on the emulated CPU: {variables['TF_ENABLE_ONEDNN_OPTS']} ({why})", flush=True)
    env = dict(os.environ, **variables, **{_EMULATED: name})
    argv = sys.argv[1:] if argv is None else list(argv)
    return subprocess.run([sys.executable, __file__, *argv], env=env).returncode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(HERE / "configs" / "train_scifact.json"))
    parser.add_argument("--data", help="BEIR folder (default: the config's, relative to the repository)")
    parser.add_argument("--output", help="model folder (default: the config's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--zero-shot", action="store_true", help="also evaluate the starting model on test")
    parser.add_argument("--skip-st", action="store_true", help="do not time sentence-transformers")
    parser.add_argument("--results", help="result file (default: bench/results/train_scifact.json, or "
                                          "train_scifact_emulated_avx2.json with --emulate-cpu avx2)")
    parser.add_argument("--emulate-cpu", choices=sorted(EMULATIONS),
                        help="limit every library's kernels to this instruction set (see the module docstring)")
    args = parser.parse_args(argv)
    emulation = EMULATIONS.get(args.emulate_cpu)
    args.results = args.results or str(RESULTS / ("train_scifact.json" if emulation is None else
                                                  f"train_scifact_emulated_{args.emulate_cpu}.json"))
    if emulation is not None and os.environ.get(_EMULATED) != args.emulate_cpu:
        return _run_emulated(emulation, args.emulate_cpu, argv)

    import_tensorflow(args.threads)
    from tfsearch.data.beir import BeirDataset
    from tfsearch.eval.retrieval_evaluation import evaluate_retrieval
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.training.train_config import TrainConfig
    from tfsearch.training.trainer import train
    from tfsearch.training.training_data import read_hard_negatives, split_queries, training_pairs

    values = json.loads(pathlib.Path(args.config).read_text())
    values["data"] = args.data or str((REPO / values["data"]).resolve())
    values["output"] = args.output or str(REPO / values["output"])
    emulated = None
    if emulation is not None:
        from tfsearch.utils.precision import choose_policy

        policy, reason = choose_policy(set(emulation["flags"]))
        emulated = {"cpu": emulation["cpu"], "flags": sorted(emulation["flags"]),
                    "environment": {k: os.environ.get(k) for k in (*emulation["environment"], "TF_ENABLE_ONEDNN_OPTS")},
                    "auto_precision": {"policy": policy or "float32", "reason": reason}}
        if values.get("mixed_precision", "auto") == "auto":  # "auto" as it resolves on the emulated CPU
            values["mixed_precision"] = policy or "float32"
        print(f"emulated {emulation['cpu']}: precision auto -> {policy or 'float32'} ({reason})", flush=True)
    config = TrainConfig.from_dict(values)
    results = {"config": config.to_dict(), "threads": args.threads, "machine": machine_description()}
    if emulated:
        results["emulated_cpu"] = emulated
    data = BeirDataset(config.data)

    if args.zero_shot:
        start = time.perf_counter()
        zero = evaluate_retrieval(BertEncoder.from_pretrained(config.model, dtype=config.mixed_precision), data,
                                  "test", progress=True)
        results["zero_shot"] = {**zero.metrics, "seconds": time.perf_counter() - start}
        print(f"zero-shot nDCG@10 {zero.metrics['nDCG@10']:.4f}", flush=True)

    start = time.perf_counter()
    report = train(config, progress=True)
    results["training"] = {k: v for k, v in report.items() if k != "history"}
    results["training"]["history"] = report["history"]
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    # Evaluated in the precision trained with ("auto" resolved once by `train`, recorded in its report).
    trained_with = report.get("precision", {}).get("policy", config.mixed_precision)
    results["precision"] = report.get("precision", {"given": config.mixed_precision, "policy": trained_with})
    encoder = BertEncoder.from_pretrained(config.output, dtype=trained_with)
    evaluation = evaluate_retrieval(encoder, data, "test", progress=True)
    results["test"] = evaluation.metrics
    results["seconds"] = {"training_and_validation": train_seconds, "test_evaluation": time.perf_counter() - start}
    results["seconds"]["total"] = sum(results["seconds"].values())
    print(f"SciFact test nDCG@10 {evaluation.metrics['nDCG@10']:.4f} after {results['seconds']['total'] / 60:.1f} "
          f"minutes; {report['examples_per_second']:.1f} training examples/s", flush=True)

    if not args.skip_st:
        train_qrels, _ = split_queries(data.qrels(config.split), config.validation_fraction, config.seed)
        mined = read_hard_negatives(pathlib.Path(config.output) / "hard_negatives.jsonl") if config.mined_negatives else None
        pairs = training_pairs(train_qrels, data.queries(), data.corpus(), mined, config.mined_negatives)
        with tempfile.TemporaryDirectory() as tmp:
            st = time_sentence_transformers(pairs, config, args.threads, encoder.sequence_length, pathlib.Path(tmp))
        results["sentence_transformers"] = st
        if "examples_per_second" in st:
            results["speed_ratio_vs_sentence_transformers"] = report["examples_per_second"] / st["examples_per_second"]
            print(f"sentence-transformers MNRL: {st['examples_per_second']:.1f} examples/s; tfsearch / ST = "
                  f"{results['speed_ratio_vs_sentence_transformers']:.2f}", flush=True)

    write_result(args.results, results)
    print(f"Wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
