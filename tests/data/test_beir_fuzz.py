"""Property-based: random and mutated BEIR files raise only documented errors."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfsearch.data.beir import BeirDataset, BeirFormatError
from tfsearch.data.quality import check_beir_folder

VALID_CORPUS = b"".join(
    json.dumps({"_id": f"d{i}", "title": f"T{i}", "text": f"text {i}"}).encode() + b"\n" for i in range(4)
)
VALID_QUERIES = b'{"_id": "q1", "text": "a query"}\n{"_id": "q2", "text": "another"}\n'
VALID_QRELS = b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)
records = st.dictionaries(st.sampled_from(["_id", "title", "text", "metadata", "x"]), json_values, max_size=5)


def mutate(data, draw_ops):
    data = bytearray(data)
    for position, value, op in draw_ops:
        if not data:
            break
        position %= len(data)
        if op == 0:
            data[position] = value
        elif op == 1:
            del data[position]
        else:
            data.insert(position, value)
    return bytes(data)


mutations = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.integers(0, 2)), max_size=6)


def load_everything(root):
    """Uses the loader the way the CLI does; only BeirFormatError may escape."""
    try:
        data = BeirDataset(root)
        list(data.iter_corpus())
        data.queries()
        data.qrels("test")
    except BeirFormatError:
        pass
    report = check_beir_folder(root)
    assert isinstance(report.usable, bool)
    report.format()


def write(root, corpus, queries, qrels):
    root.mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(exist_ok=True)
    (root / "corpus.jsonl").write_bytes(corpus)
    (root / "queries.jsonl").write_bytes(queries)
    (root / "qrels" / "test.tsv").write_bytes(qrels)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corpus=mutations, queries=mutations, qrels=mutations)
def test_mutated_files(tmp_path_factory, corpus, queries, qrels):
    root = tmp_path_factory.mktemp("beir")
    write(root, mutate(VALID_CORPUS, corpus), mutate(VALID_QUERIES, queries), mutate(VALID_QRELS, qrels))
    load_everything(root)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corpus=st.lists(records, max_size=4), raw=st.binary(max_size=64), qrels=st.binary(max_size=64))
def test_random_records_and_bytes(tmp_path_factory, corpus, raw, qrels):
    root = tmp_path_factory.mktemp("beir")
    corpus_bytes = b"".join(json.dumps(r).encode() + b"\n" for r in corpus) + raw
    write(root, corpus_bytes, raw, qrels)
    load_everything(root)
