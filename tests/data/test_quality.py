from tests.data.test_beir import write_beir
from tfsearch.data.quality import check_beir_folder


def test_clean_folder_is_usable(tmp_path):
    report = check_beir_folder(write_beir(tmp_path / "d"))
    assert report.usable and not report.errors
    assert report.counts["documents"] == 3 and report.counts["queries"] == 2
    assert report.counts["qrels[test] judgements"] == 2
    assert "Verdict: usable" in report.format()


def test_reports_every_problem(tmp_path):
    corpus = [
        {"_id": "d1", "title": "Cats", "text": "Cats sit on mats all day long."},
        {"_id": "d2", "title": "Cats", "text": "Cats sit on mats all day long."},  # duplicate text
        {"_id": "d3", "title": "", "text": "Hi"},  # near-empty
        "{broken",
        {"_id": "d1", "text": "duplicate id"},
    ]
    queries = [{"_id": "q1", "text": "cats"}, {"_id": "q2", "text": "dogs"}, {"_id": "q3", "text": "unjudged"}]
    qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td9\t1\nq7\td1\t1\nq1\td2\tx\nq2\td3\t0\n"
    report = check_beir_folder(write_beir(tmp_path / "d", corpus=corpus, queries=queries, qrels=qrels))
    assert not report.usable
    text = "\n".join(report.errors)
    assert "corpus.jsonl:4: malformed JSON" in text
    assert "corpus.jsonl:5: field '_id': duplicate document id 'd1'" in text
    assert "test.tsv:3: field 'corpus-id': document 'd9' is not in corpus.jsonl" in text
    assert "test.tsv:4: field 'query-id': query 'q7' is not in queries.jsonl" in text
    assert "test.tsv:5: field 'score'" in text
    assert "1 judgements name 1 unknown documents (orphans)" in text
    warnings = "\n".join(report.warnings)
    assert "1 groups of documents share the same text" in warnings
    assert "fewer than 3 words, e.g. d3" in warnings
    assert "1 queries have no judgements in any split, e.g. q3" in warnings
    assert report.counts["documents"] == 3
    assert "NOT usable" in report.format()


def test_queries_with_only_non_relevant_judgements(tmp_path):
    qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t0\n"
    report = check_beir_folder(write_beir(tmp_path / "d", qrels=qrels))
    assert report.usable
    assert any("1 queries have no judgement with score > 0, e.g. q2" in w for w in report.warnings)


def test_missing_folder(tmp_path):
    report = check_beir_folder(tmp_path / "nope")
    assert not report.usable and "not a folder" in report.errors[0]


def test_scifact_is_usable(scifact_dir):
    report = check_beir_folder(scifact_dir)
    assert report.usable, report.errors
    assert report.counts["documents"] == 5183
    assert report.counts["qrels[test] queries"] == 300
