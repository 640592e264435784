"""`tfsearch search`: embed text queries with an index's encoder and print its top k."""

from tfsearch.cli.arg_types import positive_int
from tfsearch.cli.common import corpus_titles, index_and_encoder


def cmd_search(args):
    from tfsearch.models.batch_encoding import encode_texts

    built, _, encoder, index = index_and_encoder(args.index, args.model)
    scores, ids = index.search(encode_texts(encoder, args.query), k=args.k)
    titles = corpus_titles(built.get("data"), wanted={d for row in ids for d in row})
    for query, row_scores, row_ids in zip(args.query, scores, ids):
        print(f"\nQuery: {query}")
        for rank, (doc_id, score) in enumerate(zip(row_ids, row_scores), start=1):
            print(f"  {rank}. {score:.3f}  {doc_id}  {titles.get(doc_id, '')}".rstrip())
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser("search", help="Search an index folder with text queries.",
                              description="Embed queries with the index's encoder and print the top k.")
    p.add_argument("--index", required=True, help="index folder (`tfsearch index build`)")
    p.add_argument("--query", required=True, action="append", help="a query (repeatable)")
    p.add_argument("-k", type=positive_int, default=10, help="results per query (default: 10)")
    p.add_argument("--model", help="encoder (default: the one the index was built with)")
    p.set_defaults(func=cmd_search)
