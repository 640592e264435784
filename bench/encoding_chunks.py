"""What a served batch of queries costs the encoder, padded as one batch and in length-sorted chunks.

The export's signatures encode the texts of one call with
`tfsearch.models.batch_encoding.encode_in_length_chunks` (`SearchModule`'s
`encoding_chunk_size`). This measures, with the pretrained encoder at
`--precision` (float32, the checkpoint's own and `tfsearch export`'s
default; bfloat16 as an export at that precision holds it, its
`inference_copy`; auto: bfloat16 where the processor computes it natively)
and one intra-op thread (one signature call per core, as `tfsearch serve`
runs them on a CPU):

1. **Padding**: the token lengths of SciFact's queries and, for random
   batches of 2 to 16 of them, the token slots a batch padded to its
   longest holds over its real tokens, and the same in chunks of 2, 4, 8.
2. **Time**: the encoder as one `tf.function` over strings of unknown batch
   size, for batches of 1, 4, 8 and 16 random SciFact queries (the same
   batches for every setting), padded as one batch and in chunks of 2, 4
   and 8: the mean ms per call.

Writes `bench/results/encoding_chunks.json` (atomically); the export guide's
choice of 4 and `docs/benchmarks.md` quote it.

Usage:
    python bench/encoding_chunks.py [--calls 120] [--precision float32] [--data ../shared/data/scifact]
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import RESULTS, SCIFACT, import_tensorflow, machine_description, write_result  # noqa: E402

from tfsearch.cli.common import PRECISIONS, encoder_dtype  # noqa: E402

BATCH_SIZES = (1, 4, 8, 16)
CHUNK_SIZES = (2, 4, 8)


def padding_factors(lengths, batch_size, chunk_size, rng, samples=3000):
    """Mean over random batches of (token slots computed) / (real tokens); `chunk_size` None: one padded batch."""
    factors = []
    for _ in range(samples):
        batch = np.sort(rng.choice(lengths, batch_size))
        step = chunk_size or batch_size
        slots = sum(len(chunk) * chunk.max() for chunk in (batch[i:i + step] for i in range(0, batch_size, step)))
        factors.append(slots / batch.sum())
    return round(float(np.mean(factors)), 3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SCIFACT))
    parser.add_argument("--calls", type=int, default=120, help="queries timed per batch size and setting")
    parser.add_argument("--output", default=str(RESULTS / "encoding_chunks.json"))
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="the encoder's, as `tfsearch export --precision` exports it (default: float32)")
    args = parser.parse_args(argv)

    tf = import_tensorflow(1)
    from tfsearch.models import BertEncoder
    from tfsearch.models.batch_encoding import encode_in_length_chunks

    encoder = BertEncoder.from_pretrained(dtype=encoder_dtype(args.precision)).inference_copy()
    precision = encoder.backbone.compute_dtype
    queries = [json.loads(line)["text"] for line in open(pathlib.Path(args.data) / "queries.jsonl", encoding="utf-8")]
    mask = encoder.tokenizer(tf.constant(queries))["padding_mask"]
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1).numpy()
    rng = np.random.default_rng(0)
    padding = {str(b): {str(c or "one batch"): padding_factors(lengths, b, c, rng) for c in (None, *CHUNK_SIZES)}
               for b in (2, 4, 8, 16)}

    spec = [tf.TensorSpec([None], tf.string)]
    settings = {"one batch": tf.function(lambda texts: encoder(texts), input_signature=spec)}
    for chunk in CHUNK_SIZES:
        settings[f"chunks of {chunk}"] = tf.function(
            lambda texts, chunk=chunk: encode_in_length_chunks(encoder, texts, chunk), input_signature=spec)
    for function in settings.values():  # traced and run once before the clock
        for size in BATCH_SIZES:
            function(tf.constant(queries[:size])).numpy()
    timings = {}
    for size in BATCH_SIZES:
        batches = [tf.constant(list(rng.choice(queries, size))) for _ in range(max(6, args.calls // size))]
        timings[str(size)] = row = {}
        for name, function in settings.items():
            start = time.perf_counter()
            for batch in batches:
                function(batch).numpy()
            row[name] = round((time.perf_counter() - start) / len(batches) * 1000, 2)
        print(f"batch {size:2d}: " + ", ".join(f"{name} {ms} ms" for name, ms in row.items()), flush=True)

    result = {
        "query_tokens": {"count": int(lengths.size), "mean": round(float(lengths.mean()), 1),
                         "median": float(np.median(lengths)), "p90": float(np.percentile(lengths, 90)),
                         "max": int(lengths.max())},
        "padding_factor": padding, "ms_per_call": timings, "intra_op_threads": 1, "precision": precision,
        "command": "python bench/encoding_chunks.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_description(),
    }
    write_result(args.output, result)
    print(json.dumps(padding, indent=1))
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
