import json

import pytest

from tfsearch.data.beir import BeirDataset, BeirFormatError, iter_corpus, iter_qrels, iter_queries


def write_beir(root, corpus=None, queries=None, qrels=None, split="test"):
    corpus = corpus if corpus is not None else [
        {"_id": "d1", "title": "Cats", "text": "Cats sit on mats."},
        {"_id": "d2", "title": "", "text": "Dogs bark."},
        {"_id": 3, "title": "Birds", "text": "Birds fly."},
    ]
    queries = queries if queries is not None else [{"_id": "q1", "text": "cats"}, {"_id": "q2", "text": "dogs"}]
    qrels = qrels if qrels is not None else "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\n"
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("\n".join(c if isinstance(c, str) else json.dumps(c) for c in corpus) + "\n")
    (root / "queries.jsonl").write_text("\n".join(q if isinstance(q, str) else json.dumps(q) for q in queries) + "\n")
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / f"{split}.tsv").write_text(qrels)
    return root


def test_reads_a_valid_folder(tmp_path):
    data = BeirDataset(write_beir(tmp_path / "d"))
    corpus = data.corpus()
    assert list(corpus) == ["d1", "d2", "3"]  # integer ids become strings
    assert corpus["d1"].contents() == "Cats Cats sit on mats."
    assert corpus["d2"].contents() == "Dogs bark."  # no leading separator without a title
    assert data.qrels("test") == {"q1": {"d1": 1}, "q2": {"d2": 2}}
    assert set(data.queries("test")) == {"q1", "q2"}
    assert data.splits == ["test"]
    assert data.count_documents() == 3


def test_crlf_qrels_and_no_header(tmp_path):
    data = BeirDataset(write_beir(tmp_path / "d", qrels="q1\td1\t1\r\nq2\td2\t0\r\n"))
    assert data.qrels("test") == {"q1": {"d1": 1}, "q2": {"d2": 0}}


@pytest.mark.parametrize(
    "line, field, message",
    [
        ('{"_id": "d1", "text": "x"', None, "malformed JSON"),
        ('["not", "an", "object"]', None, "expected a JSON object"),
        ('{"title": "t", "text": "x"}', "_id", "missing '_id'"),
        ('{"_id": null, "text": "x"}', "_id", "must be a string"),
        ('{"_id": "", "text": "x"}', "_id", "empty"),
        ('{"_id": "a b", "text": "x"}', "_id", "white space"),
        ('{"_id": "d9", "title": 5, "text": "x"}', "title", "must be a string"),
        ('{"_id": "d9", "title": ""}', "text", "missing 'text'"),
        ('{"_id": "d9", "title": " ", "text": "  "}', "text", "empty title and text"),
        ('{"_id": "d9", "text": "x", "metadata": []}', "metadata", "must be an object"),
        ('{"_id": "d1", "text": "again"}', "_id", "duplicate document id 'd1' \\(first on line 1\\)"),
    ],
)
def test_corpus_errors_name_file_line_and_field(tmp_path, line, field, message):
    root = write_beir(tmp_path / "d", corpus=[{"_id": "d1", "text": "ok"}, line])
    with pytest.raises(BeirFormatError, match=message) as info:
        list(iter_corpus(root / "corpus.jsonl"))
    assert info.value.line == 2 and info.value.field == field
    assert str(info.value).startswith(f"{root / 'corpus.jsonl'}:2")


def test_invalid_utf8(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b'{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": "\xff"}\n')
    with pytest.raises(BeirFormatError, match="not valid UTF-8") as info:
        list(iter_corpus(path))
    assert info.value.line == 2


def test_collect_mode_skips_bad_lines_and_keeps_every_error(tmp_path):
    root = write_beir(tmp_path / "d", corpus=[{"_id": "d1", "text": "ok"}, "{bad", {"_id": "d1", "text": "dup"},
                                              {"_id": "d3", "text": "fine"}])
    errors = []
    docs = list(iter_corpus(root / "corpus.jsonl", errors=errors))
    assert [d.id for d in docs] == ["d1", "d3"]
    assert [e.line for e in errors] == [2, 3]


def test_query_errors(tmp_path):
    root = write_beir(tmp_path / "d", queries=[{"_id": "q1", "text": ""}])
    with pytest.raises(BeirFormatError, match="empty text"):
        list(iter_queries(root / "queries.jsonl"))


@pytest.mark.parametrize(
    "qrels, field, message",
    [
        ("query-id\tcorpus-id\tscore\nq1\td1\n", None, "expected 3 tab-separated columns"),
        ("query-id\tcorpus-id\tscore\nq1\td1\thigh\n", "score", "not an integer"),
        ("query-id\tcorpus-id\tscore\nq1\td1\t1.5\n", "score", "not an integer"),
        ("query-id\tcorpus-id\tscore\n\td1\t1\n", "query-id", "empty query-id"),
        ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t0\n", None, "duplicate judgement"),
    ],
)
def test_qrels_format_errors(tmp_path, qrels, field, message):
    root = write_beir(tmp_path / "d", qrels=qrels)
    with pytest.raises(BeirFormatError, match=message) as info:
        list(iter_qrels(root / "qrels" / "test.tsv"))
    assert info.value.field == field and info.value.line is not None


@pytest.mark.parametrize(
    "qrels, message",
    [
        ("query-id\tcorpus-id\tscore\nq9\td1\t1\n", "query 'q9' is not in queries.jsonl"),
        ("query-id\tcorpus-id\tscore\nq1\td9\t1\n", "document 'd9' is not in corpus.jsonl"),
        ("query-id\tcorpus-id\tscore\n", "no judgements"),
    ],
)
def test_orphan_judgements(tmp_path, qrels, message):
    data = BeirDataset(write_beir(tmp_path / "d", qrels=qrels))
    with pytest.raises(BeirFormatError, match=message):
        data.qrels("test")


def test_folder_errors(tmp_path):
    with pytest.raises(BeirFormatError, match="not a folder"):
        BeirDataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BeirFormatError, match="missing corpus.jsonl"):
        BeirDataset(tmp_path / "empty")
    data = BeirDataset(write_beir(tmp_path / "d"))
    with pytest.raises(BeirFormatError, match="no qrels for split 'dev'; available splits: \\['test'\\]"):
        data.qrels("dev")


def test_reads_scifact(scifact_dir):
    data = BeirDataset(scifact_dir)
    assert data.count_documents() == 5183
    qrels = data.qrels("test")
    assert len(qrels) == 300 and sum(len(v) for v in qrels.values()) == 339
    assert len(data.queries("train")) == 809
