"""The files every index folder holds: `ids.txt` (one id per line) and `index.json`."""

import json
import pathlib


def write_index_files(folder, identifiers, meta):
    """Writes `ids.txt` and `index.json` into `folder` (an index's temporary folder)."""
    folder = pathlib.Path(folder)
    (folder / "ids.txt").write_text("\n".join(identifiers) + "\n", encoding="utf-8")
    (folder / "index.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def read_index_meta(path, expected_format=None):
    """`index.json` of an index folder, checked to be of `expected_format` when given."""
    path = pathlib.Path(path)
    meta_path = path / "index.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{path} is not a tfsearch index folder (no index.json).")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if expected_format is not None and meta.get("format") != expected_format:
        raise ValueError(f"{path} holds a {meta.get('format')!r} index, not {expected_format!r}.")
    return meta


def read_identifiers(path, count):
    """The first `count` ids of `ids.txt`."""
    return (pathlib.Path(path) / "ids.txt").read_text(encoding="utf-8").split("\n")[:count]
