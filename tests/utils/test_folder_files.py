import json

import pytest

from tfsearch.utils.folder_files import read_ids, read_metadata, write_ids, write_metadata


def test_ids_are_one_a_line_and_read_back_by_count(tmp_path):
    write_ids(tmp_path, ["d1", "", "d3"])
    assert (tmp_path / "ids.txt").read_bytes() == b"d1\n\nd3\n"
    # The count (from the metadata) keeps an empty id and drops the final newline's empty tail.
    assert read_ids(tmp_path, 3) == ["d1", "", "d3"]
    assert read_ids(tmp_path, 2) == ["d1", ""]
    write_ids(tmp_path, ["x"], file_name="other.txt")
    assert read_ids(tmp_path, 1, file_name="other.txt") == ["x"]


def test_metadata_bytes_with_and_without_a_final_newline(tmp_path):
    write_metadata(tmp_path, "a.json", {"format": "f.v1", "n": 2})
    assert (tmp_path / "a.json").read_text() == '{\n  "format": "f.v1",\n  "n": 2\n}\n'
    write_metadata(tmp_path, "b.json", {"n": 2}, final_newline=False)
    assert (tmp_path / "b.json").read_text() == '{\n  "n": 2\n}'
    assert read_metadata(tmp_path, "a.json", "thing", "f.v1") == {"format": "f.v1", "n": 2}
    assert read_metadata(tmp_path, "b.json", "thing") == {"n": 2}  # no format asked: none checked


def test_a_missing_file_or_another_format_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"is not a tfsearch index folder \(no index.json\)\."):
        read_metadata(tmp_path, "index.json", "index")
    (tmp_path / "index.json").write_text(json.dumps({"format": "tfsearch.scann.v1"}))
    with pytest.raises(ValueError, match="holds a 'tfsearch.scann.v1' index folder, not 'tfsearch.brute_force.v1'"):
        read_metadata(tmp_path, "index.json", "index", "tfsearch.brute_force.v1")
    (tmp_path / "index.json").write_text("{}")
    with pytest.raises(ValueError, match="holds a None index folder"):
        read_metadata(tmp_path, "index.json", "index", "tfsearch.brute_force.v1")
