"""The files every index folder holds: `ids.txt` (one id per line) and `index.json`."""

from tfsearch.utils.folder_files import read_ids, read_metadata, write_ids, write_metadata

INDEX_META_FILE = "index.json"


def write_index_files(folder, identifiers, meta):
    """Writes `ids.txt` and `index.json` into `folder` (an index's temporary folder)."""
    write_ids(folder, identifiers)
    write_metadata(folder, INDEX_META_FILE, meta, final_newline=False)


def read_index_meta(path, expected_format=None):
    """`index.json` of an index folder, checked to be of `expected_format` when given."""
    return read_metadata(path, INDEX_META_FILE, "index", expected_format)


def read_identifiers(path, count):
    """The first `count` ids of `ids.txt`."""
    return read_ids(path, count)
