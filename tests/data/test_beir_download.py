import zipfile

import pytest

from tfsearch.data import BeirDataset, download_beir


def make_zip(path, name, files):
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in files.items():
            zf.writestr(f"{name}/{member}", text)


BEIR_FILES = {
    "corpus.jsonl": '{"_id": "d1", "title": "t", "text": "a document"}\n',
    "queries.jsonl": '{"_id": "q1", "text": "a query"}\n',
    "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\n",
}


def test_download_unpacks_a_beir_archive_once(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "tiny.zip", "tiny", BEIR_FILES)
    target = download_beir("tiny", tmp_path / "datasets", base_url=mirror.as_uri(), progress=False)
    assert target == tmp_path / "datasets" / "tiny"
    assert list(BeirDataset(target).qrels("test")) == ["q1"]
    (mirror / "tiny.zip").unlink()  # already there: nothing is fetched again
    assert download_beir("tiny", tmp_path / "datasets", base_url=mirror.as_uri()) == target
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == ["tiny"]  # no temporary folder left


def test_a_bad_archive_or_name_leaves_nothing(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "broken.zip", "broken", {"readme.txt": "no corpus here"})
    with pytest.raises(ValueError, match="not a BEIR dataset archive"):
        download_beir("broken", tmp_path / "datasets", base_url=mirror.as_uri(), progress=False)
    assert list((tmp_path / "datasets").iterdir()) == []
    with pytest.raises(ValueError, match="not a BEIR dataset name"):
        download_beir("../etc", tmp_path / "datasets")
    with pytest.raises(OSError):
        download_beir("missing", tmp_path / "datasets", base_url=mirror.as_uri(), progress=False)
    assert list((tmp_path / "datasets").iterdir()) == []
