"""TREC run files: `query_id Q0 doc_id rank score tag`, one line per result."""

from tfsearch.utils.atomic import atomic_file


def write_trec_run(run, path, tag="tfsearch"):
    """Writes a run atomically, each query's results sorted by score (best first).

    Args:
        run: `{query_id: {doc_id: score}}`.
        path: the output file.
        tag: the run tag (last column); must not contain white space.
    """
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"`tag` must be a non-empty word (the run tag), got {tag!r}.")
    with atomic_file(path) as f:
        for query_id in sorted(run):
            ranked = sorted(run[query_id].items(), key=lambda item: (-item[1], item[0]))
            for rank, (doc_id, score) in enumerate(ranked, start=1):
                f.write(f"{query_id} Q0 {doc_id} {rank} {score:.6f} {tag}\n")


def read_trec_run(path):
    """Reads a TREC run file into `{query_id: {doc_id: score}}`."""
    run = {}
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 6:
                raise ValueError(f"{path}:{line_number}: expected 6 columns, got {len(parts)}")
            query_id, _, doc_id, _, score, _ = parts
            run.setdefault(query_id, {})[doc_id] = float(score)
    return run
