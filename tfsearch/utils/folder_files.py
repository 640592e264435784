"""The files a tfsearch folder keeps beside its arrays: an ids file and a JSON metadata file.

Indexes (`index.json`), BM25 retrievers (`bm25.json`) and towers
(`tfsearch_encoder.json`, `tfsearch_context_tower.json`) each describe their
folder with one JSON file, and the retrievers list their documents one id a
line in `ids.txt`. The JSON file is what marks a folder as one of tfsearch's:
reading it checks that it is there and, when the folder records one, that its
`format` is the expected one.

Writes go into a folder the caller makes atomic (`atomic_directory`).
"""

import json
import pathlib

IDS_FILE = "ids.txt"


def write_ids(folder, identifiers, file_name=IDS_FILE):
    """Writes `identifiers` one a line (each line ended by a newline) to `folder / file_name`.

    Args:
        folder: str or PathLike. An existing folder.
        identifiers: sequence of str `[num_documents]`, without newlines.
        file_name: str. Defaults to `"ids.txt"`.

    Example:
    ```python
    write_ids(tmp, ["d1", "d2"])  # ids.txt holds "d1\\nd2\\n"
    ```
    """
    (pathlib.Path(folder) / file_name).write_text("\n".join(identifiers) + "\n", encoding="utf-8")


def read_ids(folder, count, file_name=IDS_FILE):
    """The first `count` ids of `folder / file_name` (written by `write_ids`): a list of str.

    `count` comes from the folder's metadata, so that an id may be empty
    (`""`) and the file's final newline is not taken for one more id.

    Example:
    ```python
    read_ids(folder, 2)  # ["d1", "d2"]
    ```
    """
    return (pathlib.Path(folder) / file_name).read_text(encoding="utf-8").split("\n")[:count]


def write_metadata(folder, file_name, metadata, final_newline=True):
    """Writes `metadata` as indented JSON to `folder / file_name`.

    Args:
        folder: str or PathLike. An existing folder.
        file_name: str, e.g. `"index.json"`.
        metadata: JSON-serialisable dict; folders read with an
            `expected_format` hold their format under `"format"`.
        final_newline: bool. End the file with a newline. Each kind of
            folder keeps the bytes it has always written.
    """
    text = json.dumps(metadata, indent=2) + ("\n" if final_newline else "")
    (pathlib.Path(folder) / file_name).write_text(text, encoding="utf-8")


def read_metadata(folder, file_name, kind, expected_format=None):
    """The JSON metadata of a tfsearch folder, checked to exist and to be of `expected_format`.

    Args:
        folder: str or PathLike. The folder to read.
        file_name: str. Its metadata file, e.g. `"index.json"`.
        kind: str. What the folder holds, for the messages: `"index"` gives
            "FOLDER is not a tfsearch index folder (no index.json)." and
            "FOLDER holds a 'tfsearch.scann.v1' index folder, not
            'tfsearch.brute_force.v1'.".
        expected_format: str or None. The `"format"` the metadata must hold;
            None checks nothing.

    Returns:
        dict, the metadata.

    Raises:
        FileNotFoundError: the folder has no `file_name`.
        ValueError: the metadata's `format` is not `expected_format`.

    Example:
    ```python
    meta = read_metadata("indexes/scifact", "index.json", "index", "tfsearch.brute_force.v1")
    ```
    """
    folder = pathlib.Path(folder)
    path = folder / file_name
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a tfsearch {kind} folder (no {file_name}).")
    metadata = json.loads(path.read_text(encoding="utf-8"))
    if expected_format is not None and metadata.get("format") != expected_format:
        raise ValueError(f"{folder} holds a {metadata.get('format')!r} {kind} folder, not {expected_format!r}.")
    return metadata
