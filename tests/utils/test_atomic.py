"""Atomic writes: nothing half-written is ever visible, and what is written gets the mode a plain write gives."""

import os
import stat

import pytest

from tfsearch.utils.atomic import atomic_directory, atomic_file, atomic_write_text


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_a_new_file_and_folder_get_the_umasks_modes_not_tempfiles_private_ones(tmp_path, umask_027):
    # tempfile makes 0600 files and 0700 folders; open() and mkdir() under umask 027 give
    # 0666 & ~027 = 0640 and 0777 & ~027 = 0750, which is what a reader of another user sees.
    atomic_write_text(tmp_path / "run.trec", "q1 Q0 d1 1 0.9 tfsearch\n")
    with atomic_directory(tmp_path / "index") as folder:
        (folder / "index.json").write_text("{}")
    assert mode(tmp_path / "run.trec") == 0o640
    assert mode(tmp_path / "index") == 0o750


def test_a_replaced_file_or_folder_keeps_its_mode(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    target.chmod(0o604)
    with atomic_file(target) as f:
        f.write("new")
    assert target.read_text() == "new" and mode(target) == 0o604
    folder = tmp_path / "shards"
    folder.mkdir()
    folder.chmod(0o711)
    with atomic_directory(folder, overwrite=True) as tmp:
        (tmp / "part-0").write_text("x")
    assert (folder / "part-0").read_text() == "x" and mode(folder) == 0o711


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as f:
        f.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]
