"""Corpus-encoding throughput: tfsearch vs sentence-transformers on the same texts.

Measures, on the whole SciFact corpus (title + " " + text, 256-token limit):
- documents per second for tfsearch (float32, the precision `"auto"` picks
  on this machine -- bfloat16 where native -- and bfloat16 with `--bf16`),
  with its length-aware batching, including tokenisation;
- the same for sentence-transformers (CPU torch) when it is installed
  (`make bench` installs it), run in a separate process with the same thread count;
- single-query latency (p50, p90) for both;
- the cosine between the two libraries' embeddings of every document.

Writes `bench/results/encode.json` (atomically) and prints a summary.

Usage:
    python bench/encode.py [--data ../shared/data/scifact] [--limit N] [--threads 2] [--bf16] [--precision auto|float32]
"""

import argparse
import json
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    RESULTS,
    SCIFACT,
    import_tensorflow,
    machine_description,
    percentiles,
    run_in_subprocess,
    write_result,
)


def load_texts(data_dir, limit=None):
    from tfsearch.data.beir import BeirDataset

    data = BeirDataset(data_dir)
    docs = [doc.contents() for doc in data.iter_corpus()]
    queries = [q.text for q in data.queries().values()]
    return (docs[:limit] if limit else docs), queries


# --- tfsearch ---------------------------------------------------------------


def run_tfsearch(docs, queries, threads, batch_size, dtype):
    tf = import_tensorflow(threads)
    from tfsearch.data.pipelines import texts_dataset
    from tfsearch.models.batch_encoding import encode_dataset
    from tfsearch.models.bert_encoder import BertEncoder

    encoder = BertEncoder.from_pretrained(dtype=dtype)
    ids = [str(i) for i in range(len(docs))]
    # Warm-up: trace the function once on a small batch (not timed).
    encode_dataset(encoder, texts_dataset(ids[:batch_size], docs[:batch_size]), batch_size=batch_size, progress=False)
    # Timed from here: tokenisation and encoding both count.
    start = time.perf_counter()
    _, embeddings = encode_dataset(encoder, texts_dataset(ids, docs), batch_size=batch_size, total=len(docs),
                                   description=f"tfsearch {dtype or 'float32'}")
    seconds = time.perf_counter() - start

    single = tf.function(lambda t: encoder(t), input_signature=[tf.TensorSpec([None], tf.string)])
    single(tf.constant(queries[:1]))
    latencies = []
    for query in queries[:200]:
        t0 = time.perf_counter()
        single(tf.constant([query])).numpy()
        latencies.append(time.perf_counter() - t0)
    return embeddings, {"documents_per_second": round(len(docs) / seconds, 2), "seconds": round(seconds, 1),
                        "single_query": percentiles(latencies)}


# --- sentence-transformers (own process) -------------------------------------

ST_SCRIPT = r"""
import json, sys, time
import numpy as np
import torch
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
from sentence_transformers import SentenceTransformer
docs = json.load(open(args["docs"]))
queries = json.load(open(args["queries"]))
model = SentenceTransformer(args["model"], device="cpu")
model.max_seq_length = 256
model.encode(docs[: args["batch_size"]], batch_size=args["batch_size"])
start = time.perf_counter()
emb = model.encode(docs, batch_size=args["batch_size"], normalize_embeddings=True, show_progress_bar=True)
seconds = time.perf_counter() - start
lat = []
for q in queries[:200]:
    t0 = time.perf_counter(); model.encode([q], normalize_embeddings=True); lat.append(time.perf_counter() - t0)
np.save(args["out"], emb.astype(np.float32))
print(json.dumps({"seconds": seconds, "latencies": lat, "torch": torch.__version__}))
"""


def run_sentence_transformers(docs, queries, threads, batch_size, workdir):
    import numpy as np

    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        return None, {"skipped": "sentence-transformers is not installed (run `make bench`)"}
    from tfsearch.models.presets import preset_dir

    (workdir / "docs.json").write_text(json.dumps(docs))
    (workdir / "queries.json").write_text(json.dumps(queries))
    args = {"threads": threads, "batch_size": batch_size, "model": str(preset_dir()), "docs": str(workdir / "docs.json"),
            "queries": str(workdir / "queries.json"), "out": str(workdir / "st.npy")}
    result, skipped = run_in_subprocess(ST_SCRIPT, args, threads)
    if skipped:
        return None, skipped
    import sentence_transformers as st

    return np.load(workdir / "st.npy"), {
        "documents_per_second": round(len(docs) / result["seconds"], 2), "seconds": round(result["seconds"], 1),
        "single_query": percentiles(result["latencies"]), "version": st.__version__, "torch": result["torch"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SCIFACT), help="BEIR folder (default: ../shared/data/scifact)")
    parser.add_argument("--limit", type=int, help="encode only the first N documents")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for both libraries (default: 2)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bf16", action="store_true", help="also measure tfsearch with bfloat16 compute")
    parser.add_argument("--precision", choices=["auto", "float32"], default="auto",
                        help="auto (default): also measure the precision tfsearch picks on this machine "
                             "(bfloat16 where native); float32: float32 only, unless --bf16")
    parser.add_argument("--output", default=str(RESULTS / "encode.json"))
    args = parser.parse_args(argv)

    docs, queries = load_texts(args.data, args.limit)
    print(f"{len(docs)} documents, {len(queries)} queries, {args.threads} threads, batch {args.batch_size}")
    results = {"data": str(args.data), "documents": len(docs), "threads": args.threads, "batch_size": args.batch_size,
               "machine": machine_description(),
               "command": "python bench/encode.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    with tempfile.TemporaryDirectory() as tmp:
        st_embeddings, results["sentence_transformers"] = run_sentence_transformers(
            docs, queries, args.threads, args.batch_size, pathlib.Path(tmp))
    variants = [None] + (["mixed_bfloat16"] if args.bf16 else [])
    if args.precision == "auto":  # also what "auto" picks here, when it is not already measured
        from tfsearch.utils.precision import choose_policy, cpu_flags

        policy, reason = choose_policy(cpu_flags())
        print(f"precision: auto picks {policy or 'float32'} ({reason})", flush=True)
        if policy not in variants:
            variants.append(policy)
    for dtype in variants:
        name = "tfsearch_" + {None: "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[dtype]
        embeddings, results[name] = run_tfsearch(docs, queries, args.threads, args.batch_size, dtype)
        if st_embeddings is not None:
            cosines = (embeddings * st_embeddings).sum(axis=1)
            results[name]["cosine_vs_sentence_transformers"] = {
                "min": round(float(cosines.min()), 6), "mean": round(float(cosines.mean()), 6)}
            results[name]["speedup_vs_sentence_transformers"] = round(
                results[name]["documents_per_second"] / results["sentence_transformers"]["documents_per_second"], 2)

    write_result(args.output, results)
    print(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
