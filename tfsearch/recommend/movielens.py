"""MovieLens 100K (`ml-100k/`: u.data, u.item, u.genre) -> a tfsearch recommendation folder.

MovieLens may not be redistributed, so tfsearch ships no copy: download
ml-100k.zip from https://grouplens.org/datasets/movielens/100k/ yourself,
unzip it, and run `tfsearch recommend convert-movielens ml-100k OUT`.

The files read (GroupLens' README):
- `u.data`: `user id<TAB>item id<TAB>rating<TAB>timestamp`, ratings 1-5.
- `u.item`: `movie id|movie title|release date|video release date|IMDb URL|`
  then 19 genre flags (0/1), encoded in latin-1 (e.g. "Misérables, Les (1995)").
- `u.genre`: `genre name|index`, the names of the 19 flags (when absent, the
  ml-100k names below are used).
"""

import json
import pathlib

from tfsearch.recommend.interactions import Interaction, InteractionsFormatError, write_interactions
from tfsearch.utils.atomic import atomic_directory

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
ITEM_FIELDS = 5  # id, title, release date, video release date, URL; then the genre flags
DOWNLOAD_HINT = ("download ml-100k.zip from https://grouplens.org/datasets/movielens/100k/, unzip it and pass the "
                 "ml-100k folder")


class MovieLensFormatError(InteractionsFormatError):
    """A MovieLens file that cannot be converted; names the file and line."""


def _decode(path, encoding):
    """The file's text: `encoding`, or for "auto" UTF-8 when the bytes are valid UTF-8, else latin-1."""
    raw = path.read_bytes()
    if encoding == "auto":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")  # GroupLens' encoding of u.item; never fails
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise MovieLensFormatError(f"not valid {encoding} ({e.reason} at byte {e.start}); try encoding='auto'",
                                   path, line) from None


def _lines(path, encoding="auto"):
    for line_number, line in enumerate(_decode(path, encoding).splitlines(), start=1):
        if line.strip():
            yield line_number, line


def read_genres(path):
    """`u.genre` -> the genre names in flag order."""
    path = pathlib.Path(path)
    if not path.is_file():
        return list(ML100K_GENRES)
    genres = {}
    for line_number, line in _lines(path):
        parts = line.split("|")
        if len(parts) != 2 or not parts[0].strip():
            raise MovieLensFormatError(f"expected 'genre name|index', got {line!r}", path, line_number)
        try:
            index = int(parts[1])
        except ValueError:
            raise MovieLensFormatError(f"genre index {parts[1]!r} is not an integer", path, line_number) from None
        if index in genres:
            raise MovieLensFormatError(f"duplicate genre index {index}", path, line_number)
        genres[index] = parts[0].strip()
    if sorted(genres) != list(range(len(genres))):
        raise MovieLensFormatError(f"genre indices must be 0..{len(genres) - 1}, got {sorted(genres)}", path)
    return [genres[i] for i in range(len(genres))]


def read_items(path, genres, encoding="auto"):
    """`u.item` -> `{item_id: {"title", "release_date", "url", "genre": [...]}}` in file order."""
    path = pathlib.Path(path)
    items = {}
    expected = ITEM_FIELDS + len(genres)
    for line_number, line in _lines(path, encoding):
        fields = line.split("|")
        if len(fields) != expected:
            raise MovieLensFormatError(
                f"expected {expected} '|'-separated fields (id, title, release date, video release date, URL and "
                f"{len(genres)} genre flags), got {len(fields)}", path, line_number)
        item_id = fields[0].strip()
        if not item_id.isdigit():
            raise MovieLensFormatError(f"movie id {item_id!r} is not a positive integer", path, line_number)
        if item_id in items:
            raise MovieLensFormatError(f"duplicate movie id {item_id}", path, line_number)
        title = fields[1].strip()
        if not title:
            raise MovieLensFormatError(f"movie {item_id} has an empty title", path, line_number)
        flags = [f.strip() for f in fields[ITEM_FIELDS:]]
        bad = [f for f in flags if f not in ("0", "1")]
        if bad:
            raise MovieLensFormatError(f"genre flags must be 0 or 1, got {bad[0]!r}", path, line_number)
        items[item_id] = {
            "title": title,
            "release_date": fields[2].strip(),
            "url": fields[4].strip(),
            "genre": [g for g, flag in zip(genres, flags) if flag == "1"],
        }
    if not items:
        raise MovieLensFormatError("no movies", path)
    return items


def read_ratings(path, item_ids):
    """`u.data` -> `[Interaction]` (user and item ids as strings, ratings as floats)."""
    path = pathlib.Path(path)
    interactions = []
    for line_number, line in _lines(path, "utf-8"):
        fields = line.split("\t")
        if len(fields) != 4:
            raise MovieLensFormatError(
                f"expected 4 tab-separated fields (user id, item id, rating, timestamp), got {len(fields)}",
                path, line_number)
        user, item, rating, timestamp = (f.strip() for f in fields)
        for name, value in (("user id", user), ("item id", item), ("rating", rating), ("timestamp", timestamp)):
            if not value.isdigit():
                raise MovieLensFormatError(f"{name} {value!r} is not a non-negative integer", path, line_number)
        if not 1 <= int(rating) <= 5:
            raise MovieLensFormatError(f"rating {rating} is outside 1-5", path, line_number)
        if item not in item_ids:
            raise MovieLensFormatError(f"item id {item} is not in u.item", path, line_number)
        interactions.append(Interaction(user, item, int(timestamp), float(rating)))
    if not interactions:
        raise MovieLensFormatError("no ratings", path)
    return interactions


def item_text(item):
    """The text of a movie after its title: `"Genres: Animation, Children's, Comedy."`."""
    genres = [g for g in item["genre"] if g != "unknown"]
    return f"Genres: {', '.join(genres)}." if genres else "Genres: unknown."


def convert_movielens_100k(src_dir, out_dir, overwrite=False, encoding="auto"):
    """Converts an ml-100k folder into a recommendation folder, atomically.

    Writes `OUT/corpus.jsonl` (one BEIR document per movie: `title` as in
    u.item, e.g. "Toy Story (1995)", `text` "Genres: ...", metadata
    `{"genre": [...], "release_date", "url"}`), `OUT/interactions.tsv`
    (user_id, item_id, timestamp, rating) and `OUT/dataset.json` (counts,
    genres, source). The folder appears complete or not at all.

    Args:
        src_dir: the ml-100k folder (u.data, u.item, optionally u.genre).
        out_dir: the folder to create.
        overwrite: replace an existing `out_dir`.
        encoding: of u.item and u.genre: "auto" (UTF-8 if valid, else
            latin-1, GroupLens' encoding) or a Python codec name.

    Returns:
        dict: the summary also written to `dataset.json`.

    Raises:
        MovieLensFormatError: a missing file or a malformed line, naming the
            file and the line number.
    """
    src = pathlib.Path(src_dir)
    for name in ("u.data", "u.item"):
        if not (src / name).is_file():
            raise MovieLensFormatError(f"missing {name}; {DOWNLOAD_HINT}", src)
    genres = read_genres(src / "u.genre")
    items = read_items(src / "u.item", genres, encoding)
    interactions = read_ratings(src / "u.data", set(items))
    summary = {
        "source": str(src.resolve()),
        "format": "movielens-100k",
        "num_items": len(items),
        "num_users": len({i.user_id for i in interactions}),
        "num_interactions": len(interactions),
        "genres": genres,
        "aspect_field": "genre",
    }
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        with open(tmp / "corpus.jsonl", "w", encoding="utf-8") as f:
            for item_id, item in items.items():
                f.write(json.dumps({
                    "_id": item_id, "title": item["title"], "text": item_text(item),
                    "metadata": {"genre": item["genre"], "release_date": item["release_date"], "url": item["url"]},
                }, ensure_ascii=False) + "\n")
        write_interactions(tmp / "interactions.tsv", interactions)
        (tmp / "dataset.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
