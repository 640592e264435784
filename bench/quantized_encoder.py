"""Dynamic-range int8 inference of the encoder through TensorFlow Lite, against TensorFlow float32.

Issue 18 asks whether int8 inference of the encoder's dense layers is worth
having: kept only if SciFact nDCG@10 stays within 0.005 of float32. This
measures it in one run:

1. the encoder's token part (`encode_tokens`: token ids and padding mask in,
   normalised embedding out; tokenising stays in TensorFlow) is converted by
   `tfsearch.models.LiteEncoder` twice: in float32, and with dynamic-range
   quantisation (`optimizations=[tf.lite.Optimize.DEFAULT]` and no
   representative data: int8 weights, activations quantised per batch at run
   time);
2. each runs in `tf.lite.Interpreter` with `--threads` threads, through
   `tfsearch.models.batch_encoding.encode_dataset` (length-sorted, tightly
   padded batches) like the float32 encoder;
3. the TensorFlow float32 encoder (what tfsearch uses) encodes the same texts;
4. for each: documents/s over the corpus (tokenising included), the cosine of
   its document embeddings to TensorFlow's, and SciFact test nDCG@10 and R@100
   by exact search, with its own query embeddings and with the float32
   encoder's (documents encoded by one, queries served by the other).

With `--limit N` only the first N documents are encoded and no retrieval
figure is computed (a speed check).

Writes `bench/results/quantized_encoder.json` (atomically; with `--limit`,
`quantized_encoder_limit.json`).

Usage:
    python bench/quantized_encoder.py [--data ../shared/data/scifact] [--threads 2] [--limit N]
"""

import argparse
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import RESULTS, SCIFACT, import_tensorflow, machine_description, write_result  # noqa: E402

BATCH_SIZE = 64
MEASURES = ("nDCG@10", "R@100")


def encode_all(encoder, ids, texts, description):
    """`(embeddings in input order, seconds)` of `texts` through `encode_dataset` (tokenising included)."""
    from tfsearch.data.pipelines import texts_dataset
    from tfsearch.models.batch_encoding import encode_dataset

    start = time.perf_counter()
    _, embeddings = encode_dataset(encoder, texts_dataset(ids, texts), batch_size=BATCH_SIZE, total=len(texts),
                                   description=description)
    return embeddings, time.perf_counter() - start


def retrieval(doc_ids, doc_embeddings, query_ids, query_embeddings, qrels):
    """SciFact test figures of exact search (`BruteForceIndex`) at depth 100."""
    from tfsearch.eval.metrics import evaluate_run
    from tfsearch.eval.retrieval_evaluation import run_from_search
    from tfsearch.index.brute_force_index import BruteForceIndex

    scores, ranked = BruteForceIndex(k=100).index(doc_embeddings, doc_ids).search(query_embeddings)
    run = run_from_search(query_ids, scores, ranked)
    return {name: round(value, 4) for name, value in evaluate_run(qrels, run, MEASURES).items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SCIFACT), help="BEIR folder (default: ../shared/data/scifact)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, help="encode only the first N documents; no retrieval figures")
    args = parser.parse_args(argv)

    import_tensorflow(args.threads)

    from tfsearch.data.beir import BeirDataset
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.models.lite_encoder import LiteEncoder

    data = BeirDataset(args.data)
    docs = list(data.iter_corpus())[: args.limit] if args.limit else list(data.iter_corpus())
    doc_ids, doc_texts = [d.id for d in docs], [d.contents() for d in docs]
    qrels = data.qrels("test")
    queries = data.queries("test")
    query_ids, query_texts = list(queries), [q.text for q in queries.values()]

    encoder = BertEncoder.from_pretrained()
    variants = {"tensorflow_float32": encoder}
    sizes = {}
    for name, quantization in (("tflite_float32", None), ("tflite_dynamic_int8", "dynamic_int8")):
        variants[name] = LiteEncoder(encoder, quantization=quantization, num_threads=args.threads)
        sizes[name] = len(variants[name].model_content)

    result = {"data": args.data, "documents": len(docs), "threads": args.threads, "batch_size": BATCH_SIZE,
              "machine": machine_description(),
              "command": "python bench/quantized_encoder.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    reference = reference_queries = None
    for name, variant in variants.items():
        encode_all(variant, ["warm-up"], ["trace the encoding function once"], name + " warm-up")
        doc_embeddings, seconds = encode_all(variant, doc_ids, doc_texts, name)
        entry = {"documents_per_second": round(len(docs) / seconds, 2), "seconds": round(seconds, 1)}
        if name in sizes:
            entry["model_bytes"] = sizes[name]
        if reference is None:
            reference = doc_embeddings
        else:
            cosines = (doc_embeddings * reference).sum(axis=1)
            entry["cosine_vs_tensorflow_float32"] = {"min": round(float(cosines.min()), 6),
                                                     "mean": round(float(cosines.mean()), 6)}
            entry["speedup_vs_tensorflow_float32"] = round(
                entry["documents_per_second"] / result["tensorflow_float32"]["documents_per_second"], 2)
        if not args.limit:
            query_embeddings, _ = encode_all(variant, query_ids, query_texts, name + " queries")
            entry["test"] = retrieval(doc_ids, doc_embeddings, query_ids, query_embeddings, qrels)
            if reference_queries is None:
                reference_queries = query_embeddings
            else:  # an index built with this encoder, searched by queries from the float32 one (a server's)
                entry["test_with_float32_queries"] = retrieval(doc_ids, doc_embeddings, query_ids, reference_queries,
                                                               qrels)
        result[name] = entry
        print(name, json.dumps(entry), flush=True)
    if not args.limit:
        base = result["tensorflow_float32"]["test"]["nDCG@10"]
        for name in ("tflite_float32", "tflite_dynamic_int8"):
            result[name]["ndcg10_change"] = round(result[name]["test"]["nDCG@10"] - base, 4)
    output = RESULTS / ("quantized_encoder_limit.json" if args.limit else "quantized_encoder.json")
    write_result(output, result)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
