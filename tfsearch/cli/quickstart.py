"""`tfsearch quickstart`: search and evaluate the bundled demo corpus with the pretrained model."""

from tfsearch.cli.arg_types import positive_int
from tfsearch.cli.common import load_encoder

EXAMPLE_QUERIES = (
    "how do astronomers find planets around other stars",
    "keeping sourdough alive and baking bread at home",
    "what happens when the heart beats irregularly",
)


def cmd_quickstart(args):
    from tfsearch.data import DEMO_DIR, BeirDataset
    from tfsearch.eval.retrieval_evaluation import evaluate_retrieval
    from tfsearch.index.corpus_index import encode_corpus_index
    from tfsearch.models.batch_encoding import encode_texts

    data = BeirDataset(DEMO_DIR)
    print(f"Loading the encoder ({args.model or 'default: all-MiniLM-L6-v2'}) ...", flush=True)
    encoder = load_encoder(args.model)
    corpus = data.corpus()
    index = encode_corpus_index(encoder, data, k=args.k, progress=not args.no_progress)
    queries = args.query or list(EXAMPLE_QUERIES)
    scores, ranked = index.search(encode_texts(encoder, queries), k=args.k)
    for query, row_scores, row_ids in zip(queries, scores, ranked):
        print(f"\nQuery: {query}")
        for rank, (doc_id, score) in enumerate(zip(row_ids, row_scores), start=1):
            doc = corpus[doc_id]
            print(f"  {rank}. {score:.3f}  [{doc.metadata.get('topic', '')}] {doc.title}")
    qrels = data.qrels("test")
    print(f"\nEvaluating on the demo test split ({len(qrels)} queries) ...", flush=True)
    result = evaluate_retrieval(encoder, data, split="test", output_dir=args.output, top_k=100, progress=False,
                                index=index, qrels=qrels)
    print(result.format_table())
    if args.output:
        print(f"\nWrote {args.output}/run.trec and {args.output}/metrics.json")
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser(
        "quickstart", help="Search and evaluate the demo corpus with the pretrained model.",
        description="Encode the bundled demo corpus, search a few queries, print results and metrics.")
    p.add_argument("--model", help="checkpoint folder or preset (default: all-MiniLM-L6-v2)")
    p.add_argument("--query", action="append", help="a query to search (repeatable); default: three examples")
    p.add_argument("-k", type=positive_int, default=5, help="results per query (default: 5)")
    p.add_argument("--output", help="also write run.trec and metrics.json to this folder")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_quickstart)
