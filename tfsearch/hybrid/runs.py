"""Runs (`{query_id: {doc_id: score}}`) cut to a depth (`tfsearch.eval.retrieval_evaluation.run_from_search`
builds them from search results)."""


def truncate_run(run, depth):
    """Each query's top `depth` documents (ties: the lower doc id first, as TREC files are written)."""
    if int(depth) != depth or depth < 1:
        raise ValueError(f"`depth` must be a positive integer, got {depth!r}.")
    return {query_id: dict(sorted(ranking.items(), key=lambda item: (-item[1], item[0]))[:depth])
            for query_id, ranking in run.items()}


def ranked_ids(run, query_ids, depth):
    """`[num_queries]` lists of each query's top `depth` document ids (fewer when the run has fewer)."""
    truncated = truncate_run({q: run.get(q, {}) for q in query_ids}, depth)
    return [list(truncated[q]) for q in query_ids]
