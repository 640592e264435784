"""What the encoder's weights stored as graph constants, not variables, would change: its speed and its embeddings.

An export holds the encoder's weights as variables, which each call reads;
oneDNN then runs TensorFlow's matrix products on them as they are stored,
with its plain gemm kernels. Weights that are constants in the graph
TensorFlow's oneDNN ops reorder once into oneDNN's blocked layout and keep,
and oneDNN then picks its brgemm kernels (`ONEDNN_VERBOSE=1` names the
kernel of each product). This measures, for the pretrained encoder with one
intra-op thread (as `tfsearch serve` calls a signature on a CPU), in float32
and in bfloat16 (as a bfloat16 export holds it: `inference_copy`), with
Grappler's remapper on (TensorFlow's default) and off:

1. **Speed**: the encoder as one `tf.function` over strings (tokenising
   included, one padded batch: freezing cannot go through the while loop of
   the export's length-sorted chunks), its weights as variables and frozen
   into constants (`convert_variables_to_constants_v2` of `encode_tokens`):
   mean ms per call for 1, 8 and 16 random SciFact queries, the two
   alternating over `--rounds`.
2. **Embeddings**: the cosine of each setting's embeddings of the first 256
   SciFact queries to those of float32 with variables and the remapper on
   (what an export computes today): min and mean.
3. **The chunks**: whether the export's chunked encoding, frozen, runs
   (`chunked_encoder_frozen`: "ok" or TensorFlow's error).

Each precision and remapper setting runs in a process of its own (the
remapper option holds for a whole process). Writes
`bench/results/constant_weights.json` (atomically); `docs/benchmarks.md`
quotes it.

Usage:
    python bench/constant_weights.py [--rounds 2] [--data ../shared/data/scifact]
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    RESULTS,
    SCIFACT,
    cosine_summary,
    import_tensorflow,
    machine_description,
    write_result,
)

from tfsearch.cli.common import encoder_dtype  # noqa: E402

BATCH_SIZES = (1, 8, 16)
MEASURED_PRECISIONS = ("float32", "bfloat16")  # `--precision` values, as `tfsearch export` takes them
REFERENCE = ("float32", "on")
EMBEDDED_QUERIES = 256


def _child(precision, remapper, data, rounds, out_dir):
    """One precision and remapper setting: ms per call of both weight storages; their embeddings saved as .npy."""
    tf = import_tensorflow(1)
    if remapper == "off":
        tf.config.optimizer.set_experimental_options({"remapping": False})
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from tfsearch.models import BertEncoder

    encoder = BertEncoder.from_pretrained(dtype=encoder_dtype(precision)).inference_copy()
    tokens_spec = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.bool)]
    frozen = convert_variables_to_constants_v2(
        tf.function(encoder.encode_tokens, input_signature=tokens_spec).get_concrete_function())

    def constants(texts):
        tokens = encoder.tokenizer(texts)
        return tf.nest.flatten(frozen(tokens["token_ids"], tokens["padding_mask"]))[0]

    spec = [tf.TensorSpec([None], tf.string)]
    functions = {"variables": tf.function(lambda texts: encoder(texts), input_signature=spec),
                 "constants": tf.function(constants, input_signature=spec)}
    queries = [json.loads(line)["text"] for line in open(pathlib.Path(data) / "queries.jsonl", encoding="utf-8")]
    for name, function in functions.items():
        np.save(pathlib.Path(out_dir) / f"{precision}_{remapper}_{name}.npy",
                function(tf.constant(queries[:EMBEDDED_QUERIES])).numpy())
    rng = np.random.default_rng(0)
    spent = {name: {size: [0.0, 0] for size in BATCH_SIZES} for name in functions}
    for _ in range(rounds):
        for size in BATCH_SIZES:
            batches = [tf.constant(list(rng.choice(queries, size))) for _ in range(max(8, 160 // size))]
            for name, function in functions.items():
                for batch in batches[:2]:  # the shapes' first runs, before the clock
                    function(batch).numpy()
                start = time.perf_counter()
                for batch in batches:
                    function(batch).numpy()
                spent[name][size][0] += time.perf_counter() - start
                spent[name][size][1] += len(batches)
    figures = {name: {str(size): round(seconds / calls * 1000, 2) for size, (seconds, calls) in sizes.items()}
               for name, sizes in spent.items()}
    print(json.dumps({"ms_per_call": figures, "chunked": _freeze_chunked(tf, encoder, queries)}))
    return 0


def _freeze_chunked(tf, encoder, queries):
    """Whether the export's chunked encoding (`encode_in_length_chunks`, a while loop) runs frozen: "ok" or the
    error's first line."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from tfsearch.export.search_module import DEFAULT_ENCODING_CHUNK_SIZE
    from tfsearch.models.batch_encoding import encode_in_length_chunks

    chunked = tf.function(lambda texts: encode_in_length_chunks(encoder, texts, DEFAULT_ENCODING_CHUNK_SIZE),
                          input_signature=[tf.TensorSpec([None], tf.string)])
    try:
        frozen = convert_variables_to_constants_v2(chunked.get_concrete_function())
        frozen(tf.constant(queries[:2 * DEFAULT_ENCODING_CHUNK_SIZE]))
        return "ok"
    except Exception as e:  # what TensorFlow refuses, recorded as it says it
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SCIFACT))
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the timing, the two storages alternating")
    parser.add_argument("--output", default=str(RESULTS / "constant_weights.json"))
    parser.add_argument("--child", nargs=3, metavar=("PRECISION", "REMAPPER", "OUT_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(*args.child[:2], args.data, args.rounds, args.child[2])

    settings = [(precision, remapper) for precision in MEASURED_PRECISIONS for remapper in ("on", "off")]
    ms_per_call, cosine, frozen_chunks = {}, {}, {}
    with tempfile.TemporaryDirectory() as out_dir:
        for precision, remapper in settings:
            key = f"{precision}, remapper {remapper}"
            print(f"{key} ...", flush=True)
            child = subprocess.run([sys.executable, __file__, "--data", args.data, "--rounds", str(args.rounds),
                                    "--child", precision, remapper, out_dir],
                                   check=True, stdout=subprocess.PIPE, text=True)
            answer = json.loads(child.stdout.strip().splitlines()[-1])
            ms_per_call[key], frozen_chunks[key] = answer["ms_per_call"], answer["chunked"]
            print(f"  ms per call: {ms_per_call[key]}; the chunked encoder frozen: {frozen_chunks[key]}", flush=True)
        reference = np.load(pathlib.Path(out_dir) / "{}_{}_variables.npy".format(*REFERENCE))
        for precision, remapper in settings:
            key = f"{precision}, remapper {remapper}"
            saved = {name: pathlib.Path(out_dir) / f"{precision}_{remapper}_{name}.npy"
                     for name in ("variables", "constants")}
            cosine[key] = {name: cosine_summary(np.load(path), reference, digits=5) for name, path in saved.items()}
            print(f"{key}: cosine to float32 with variables {cosine[key]}", flush=True)
    result = {"ms_per_call": ms_per_call, "cosine_to_float32_variables": cosine,
              "chunked_encoder_frozen": frozen_chunks, "batch_sizes": list(BATCH_SIZES),
              "embedded_queries": EMBEDDED_QUERIES, "rounds": args.rounds, "intra_op_threads": 1,
              "command": "python bench/constant_weights.py " + " ".join(argv or sys.argv[1:]),
              "machine": machine_description()}
    write_result(args.output, result)
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
