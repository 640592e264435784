"""The interactions format: who engaged with which item, when, and optionally how they rated it.

A recommendation folder holds a BEIR-style item corpus beside the interactions:
```
DIR/corpus.jsonl        {"_id": "i1", "title": "...", "text": "...", "metadata": {"genre": ["Comedy"]}}
DIR/interactions.tsv    user_id<TAB>item_id<TAB>timestamp[<TAB>rating]   (this header first)
```
or `DIR/interactions.jsonl` with one `{"user_id", "item_id", "timestamp", "rating"?}` object per line.
Timestamps are integers (seconds since the epoch, or any increasing count);
ratings are numbers, all present or all absent. The items' metadata may carry
aspects (`genre`, `category`, `brand`) for diversity metrics and re-ranking.
"""

import dataclasses
import json
import math
import pathlib

from tfsearch.utils.atomic import atomic_file
from tfsearch.utils.format_errors import FileFormatError

TSV_HEADER = ("user_id", "item_id", "timestamp", "rating")
INTERACTION_FILES = ("interactions.tsv", "interactions.jsonl")


class InteractionsFormatError(FileFormatError):
    """An interactions or item file that cannot be used as it is: `"path:line: problem"`."""


@dataclasses.dataclass(frozen=True)
class Interaction:
    """One user-item event.

    Attributes:
        user_id: str.
        item_id: str, an `_id` of the item corpus.
        timestamp: int. Orders a user's events (ties keep file order).
        rating: float or None (implicit feedback).
    """

    user_id: str
    item_id: str
    timestamp: int
    rating: float = None


def _check_id(value, name, path, line):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InteractionsFormatError(f"{name} must be a string, got {type(value).__name__}", path, line)
    value = str(value).strip()
    if not value:
        raise InteractionsFormatError(f"empty {name}", path, line)
    if any(c in value for c in "\t\n\r "):
        raise InteractionsFormatError(f"{name} {value!r} contains white space", path, line)
    return value


def _timestamp(value, path, line):
    if isinstance(value, bool):
        raise InteractionsFormatError(f"timestamp must be an integer, got {value!r}", path, line)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise InteractionsFormatError(f"timestamp {value!r} is not an integer", path, line) from None


def _rating(value, path, line):
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise InteractionsFormatError(f"rating must be a number, got {value!r}", path, line)
    try:
        rating = float(value)
    except (TypeError, ValueError):
        raise InteractionsFormatError(f"rating {value!r} is not a number", path, line) from None
    if not math.isfinite(rating):
        raise InteractionsFormatError(f"rating {value!r} is not finite", path, line)
    return rating


def _iter_tsv(path):
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise InteractionsFormatError(f"not valid UTF-8 ({e.reason} at byte {e.start})", path,
                                              line_number) from None
            if not line.strip():
                continue
            columns = line.split("\t")
            if line_number == 1 and tuple(c.strip() for c in columns) in (TSV_HEADER, TSV_HEADER[:3]):
                continue
            if len(columns) not in (3, 4):
                raise InteractionsFormatError(
                    f"expected 3 or 4 tab-separated columns (user_id, item_id, timestamp[, rating]), "
                    f"got {len(columns)}", path, line_number)
            yield line_number, columns[0], columns[1], columns[2], columns[3] if len(columns) == 4 else None


def _iter_jsonl(path):
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InteractionsFormatError(f"not valid UTF-8 ({e.reason} at byte {e.start})", path,
                                              line_number) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise InteractionsFormatError(f"malformed JSON: {e.msg} (column {e.colno})", path,
                                              line_number) from None
            if not isinstance(record, dict):
                raise InteractionsFormatError(f"expected a JSON object, got {type(record).__name__}", path,
                                              line_number)
            missing = [k for k in TSV_HEADER[:3] if k not in record]
            if missing:
                raise InteractionsFormatError(f"missing {', '.join(missing)}", path, line_number)
            yield line_number, record["user_id"], record["item_id"], record["timestamp"], record.get("rating")


def read_interactions(path, item_ids=None):
    """Reads and validates an interactions file (`.tsv` or `.jsonl`).

    Args:
        path: the file.
        item_ids: optional set of the corpus' item ids; an interaction with
            another item is an error.

    Returns:
        list of `Interaction` in file order.

    Raises:
        InteractionsFormatError: naming the file and line: wrong column count,
            empty ids, a non-integer timestamp, a non-numeric rating, ratings
            on some lines only, an item missing from the corpus.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InteractionsFormatError("file not found", path)
    rows = _iter_jsonl(path) if path.suffix == ".jsonl" else _iter_tsv(path)
    interactions = []
    rated_line = unrated_line = None
    for line_number, user, item, timestamp, rating in rows:
        user = _check_id(user, "user_id", path, line_number)
        item = _check_id(item, "item_id", path, line_number)
        rating = _rating(rating, path, line_number)
        if rating is None:
            unrated_line = unrated_line or line_number
        else:
            rated_line = rated_line or line_number
        if rated_line and unrated_line:
            raise InteractionsFormatError(
                f"ratings must be on every line or on none (line {rated_line} has one, line {unrated_line} "
                "has none)", path, line_number)
        if item_ids is not None and item not in item_ids:
            raise InteractionsFormatError(f"item_id {item!r} is not in the item corpus", path, line_number)
        interactions.append(Interaction(user, item, _timestamp(timestamp, path, line_number), rating))
    if not interactions:
        raise InteractionsFormatError("no interactions", path)
    return interactions


def write_interactions(path, interactions):
    """Writes interactions atomically as TSV (with the header) or JSON lines, by the file's extension."""
    path = pathlib.Path(path)
    rated = any(i.rating is not None for i in interactions)
    with atomic_file(path) as f:
        if path.suffix == ".jsonl":
            for i in interactions:
                record = {"user_id": i.user_id, "item_id": i.item_id, "timestamp": i.timestamp}
                if rated:
                    record["rating"] = i.rating
                f.write(json.dumps(record) + "\n")
        else:
            f.write("\t".join(TSV_HEADER if rated else TSV_HEADER[:3]) + "\n")
            for i in interactions:
                columns = [i.user_id, i.item_id, str(i.timestamp)]
                if rated:
                    columns.append(f"{i.rating:g}")
                f.write("\t".join(columns) + "\n")
    return path


def interactions_path(folder):
    """The interactions file of a recommendation folder (`interactions.tsv` or `.jsonl`)."""
    folder = pathlib.Path(folder)
    for name in INTERACTION_FILES:
        if (folder / name).is_file():
            return folder / name
    raise InteractionsFormatError(f"no {' or '.join(INTERACTION_FILES)} (a recommendation folder holds "
                                  "corpus.jsonl and interactions.tsv)", folder)
