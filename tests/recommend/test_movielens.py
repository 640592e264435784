"""The MovieLens 100K converter on small files written in the ml-100k layout."""

import json

import pytest

from tfsearch.recommend.interactions import read_interactions
from tfsearch.recommend.movielens import ML100K_GENRES, MovieLensFormatError, convert_movielens_100k
from tfsearch.recommend.recommendation_data import RecommendationData


def _flags(*genres):
    return "|".join("1" if g in genres else "0" for g in ML100K_GENRES)


def write_ml100k(folder, items=None, ratings=None, genre_file=True):
    """A tiny ml-100k folder: u.item in latin-1 (as GroupLens ships it), u.data, u.genre."""
    folder.mkdir(parents=True, exist_ok=True)
    toy_story = _flags("Animation", "Children's", "Comedy")
    items = items if items is not None else [
        f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|"
        f"{toy_story}",
        f"2|Café au Lait (1993)|01-Jan-1993||http://example.invalid/2|{_flags('Comedy', 'Romance')}",
        f"3|Misérables, Les (1995)|01-Jan-1995||http://example.invalid/3|{_flags('Drama', 'Musical')}",
        f"4|unknown||||{_flags('unknown')}",
    ]
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    ratings = ratings if ratings is not None else [
        "196\t1\t3\t881250949", "196\t2\t5\t881250950", "22\t3\t4\t878887116", "22\t4\t1\t878887117"]
    (folder / "u.data").write_text("\n".join(ratings) + "\n", encoding="ascii")
    if genre_file:
        (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(ML100K_GENRES)) + "\n",
                                        encoding="latin-1")
    return folder


def test_converts_latin1_titles_genres_and_ratings(tmp_path):
    src = write_ml100k(tmp_path / "ml-100k")
    summary = convert_movielens_100k(src, tmp_path / "out")
    assert summary["num_items"] == 4 and summary["num_users"] == 2 and summary["num_interactions"] == 4
    data = RecommendationData(tmp_path / "out")
    items = data.items()
    assert items["2"].title == "Café au Lait (1993)"  # latin-1 decoded, written as UTF-8
    assert items["3"].title == "Misérables, Les (1995)"
    assert items["1"].text == "Genres: Animation, Children's, Comedy."
    assert items["1"].metadata["genre"] == ["Animation", "Children's", "Comedy"]
    assert items["4"].metadata["genre"] == ["unknown"] and items["4"].text == "Genres: unknown."
    assert (tmp_path / "out" / "corpus.jsonl").read_bytes().decode("utf-8").count("Café") == 1
    interactions = data.interactions()
    assert [(i.user_id, i.item_id, i.timestamp, i.rating) for i in interactions][:2] == [
        ("196", "1", 881250949, 3.0), ("196", "2", 881250950, 5.0)]
    assert data.aspects()["2"] == ["Comedy", "Romance"]
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["aspect_field"] == "genre"
    assert read_interactions(tmp_path / "out" / "interactions.tsv") == interactions


def test_utf8_u_item_is_detected_and_genres_default_without_u_genre(tmp_path):
    src = write_ml100k(tmp_path / "ml", genre_file=False)
    (src / "u.item").write_bytes((src / "u.item").read_bytes().decode("latin-1").encode("utf-8"))
    convert_movielens_100k(src, tmp_path / "out")
    assert RecommendationData(tmp_path / "out").items()["2"].title == "Café au Lait (1993)"
    with pytest.raises(MovieLensFormatError, match=r"u.item:2: not valid utf-8"):
        write_ml100k(tmp_path / "latin")
        convert_movielens_100k(tmp_path / "latin", tmp_path / "out2", encoding="utf-8")


@pytest.mark.parametrize("items, ratings, message", [
    (["1|Short|line"], None, r"u.item:1: expected 24 '\|'-separated fields .* got 3"),
    ([f"x|Bad Id (1990)|||url|{_flags('Drama')}"], None, r"u.item:1: movie id 'x' is not a positive integer"),
    ([f"1|A (1990)|||u|{_flags('Drama')}", f"1|B (1991)|||u|{_flags('Drama')}"], None,
     r"u.item:2: duplicate movie id 1"),
    ([f"1|A (1990)|||u|{_flags('Drama')}".replace("|0|", "|2|", 1)], None, r"u.item:1: genre flags must be 0 or 1"),
    ([f"1||||u|{_flags('Drama')}"], None, r"u.item:1: movie 1 has an empty title"),
    (None, ["196\t1\t3\t881250949", "196 1 3 881250950"], r"u.data:2: expected 4 tab-separated fields"),
    (None, ["196\t1\t3\t881250949", "", "196\t2\tfive\t881250950"], r"u.data:3: rating 'five' is not"),
    (None, ["196\t1\t9\t881250949"], r"u.data:1: rating 9 is outside 1-5"),
    (None, ["196\t77\t3\t881250949"], r"u.data:1: item id 77 is not in u.item"),
])
def test_malformed_lines_name_file_and_line(tmp_path, items, ratings, message):
    src = write_ml100k(tmp_path / "ml", items=items, ratings=ratings if ratings is not None else (
        ["196\t1\t3\t881250949"] if items is not None else None))
    with pytest.raises(MovieLensFormatError, match=message):
        convert_movielens_100k(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_missing_files_and_existing_output(tmp_path):
    with pytest.raises(MovieLensFormatError, match="missing u.data; download ml-100k.zip"):
        convert_movielens_100k(tmp_path, tmp_path / "out")
    src = write_ml100k(tmp_path / "ml")
    (src / "u.genre").write_text("Action|0\nComedy|x\n", encoding="latin-1")
    with pytest.raises(MovieLensFormatError, match=r"u.genre:2: genre index 'x' is not an integer"):
        convert_movielens_100k(src, tmp_path / "out")
    src = write_ml100k(tmp_path / "ml2")
    convert_movielens_100k(src, tmp_path / "out")
    with pytest.raises(FileExistsError):
        convert_movielens_100k(src, tmp_path / "out")
    convert_movielens_100k(src, tmp_path / "out", overwrite=True)
