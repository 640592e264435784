"""Relevance metrics through `ir-measures` (trec_eval's definitions)."""

import ir_measures

DEFAULT_MEASURES = ("nDCG@10", "R@100", "RR@10", "AP@100")


def parse_measures(names):
    """Parses measure names such as `"nDCG@10"` into `ir_measures` measures.

    Raises:
        ValueError: for a name ir-measures does not know, with the reason.
    """
    measures = []
    for name in names:
        try:
            measures.append(ir_measures.parse_measure(name))
        except Exception as e:  # ir_measures raises several kinds
            raise ValueError(f"Unknown measure {name!r}: {e}. Examples: {', '.join(DEFAULT_MEASURES)}.") from None
    return measures


def evaluate_run(qrels, run, measures=DEFAULT_MEASURES):
    """Mean of each measure over the judged queries.

    Queries judged but absent from the run count as zero (ir-measures averages
    over the judged queries, like trec_eval's `-c`). Queries in the run that
    have no judgements are ignored.

    Args:
        qrels: `{query_id: {doc_id: int relevance}}`.
        run: `{query_id: {doc_id: float score}}`.
        measures: iterable of measure names.

    Returns:
        `{measure_name: float}` in the order given.

    Example:
    ```python
    evaluate_run({"q1": {"d1": 1}}, {"q1": {"d2": 2.0, "d1": 1.0}}, ["RR@10"])
    # {"RR@10": 0.5}: the relevant document is ranked second
    ```
    """
    parsed = parse_measures(measures)
    if not qrels:
        raise ValueError("No judgements to evaluate against.")
    scores = ir_measures.calc_aggregate(parsed, qrels, run)
    return {str(m): float(scores.get(m, 0.0)) for m in parsed}


def per_query(qrels, run, measures=DEFAULT_MEASURES):
    """`{measure_name: {query_id: value}}` for every judged query in the run."""
    parsed = parse_measures(measures)
    table = {str(m): {} for m in parsed}
    for metric in ir_measures.iter_calc(parsed, qrels, run):
        table[str(metric.measure)][metric.query_id] = float(metric.value)
    return table
