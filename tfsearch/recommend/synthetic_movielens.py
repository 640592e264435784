"""A synthetic dataset in the MovieLens 100K layout, written by tfsearch itself (MovieLens may not be redistributed).

It exists so that the tests and `bench/movielens.py` run anywhere; it is
**not** MovieLens, and figures measured on it say nothing about MovieLens.
For real figures, download ml-100k and point `convert_movielens_100k` at it.

The world it simulates, and the premise it encodes (that titles carry signal):
- 36 themes, two per genre (e.g. Sci-Fi: space travel, robots and machines),
  each with a list of ordinary English words.
- Items: a theme (its first genre; sometimes a second, random genre), a title
  of two or three words drawn mostly from the theme's words (each word comes
  from elsewhere with probability `title_noise`), a year, and a popularity
  (log-normal). Some titles carry latin-1 characters ("Café", "Noël").
- Users: two or three preferred themes whose weights drift from one
  Dirichlet draw to another over the user's timeline; each event picks a
  preferred theme with probability `preference_strength` (else any theme),
  then an unseen item of that theme in proportion to popularity. Ratings are
  high (4-5) mostly for preferred themes, low otherwise, with noise.
- 20 or more ratings per user (as in ml-100k), timestamps increasing.
Nothing in it is tuned to a model: the generator is fixed by its arguments.
"""

import numpy as np

from tfsearch.recommend.movielens import ML100K_GENRES
from tfsearch.utils.atomic import atomic_directory

THEMES = {
    "Action": (["chase", "bullet", "explosion", "fury", "strike", "commando", "ambush", "showdown"],
               ["heist", "getaway", "escape", "rampage", "vendetta", "assault", "hostage", "payback"]),
    "Adventure": (["jungle", "treasure", "voyage", "expedition", "lost", "island", "temple", "quest"],
                  ["pirate", "sea", "sail", "ocean", "captain", "shipwreck", "harbor", "storm"]),
    "Animation": (["cartoon", "bunny", "puppy", "kitten", "toy", "dragon", "magic", "balloon"],
                  ["princess", "castle", "fairy", "wish", "enchanted", "kingdom", "mermaid", "crown"]),
    "Children's": (["school", "kids", "playground", "summer", "camp", "friends", "treehouse", "bicycle"],
                   ["family", "dog", "pony", "farm", "grandma", "holiday", "puppy", "zoo"]),
    "Comedy": (["wedding", "party", "roommate", "mishap", "blunder", "prank", "goofy", "awkward"],
               ["office", "boss", "vacation", "road", "trip", "neighbors", "dinner", "crazy"]),
    "Crime": (["mob", "gangster", "mafia", "racket", "godfather", "syndicate", "cartel", "boss"],
              ["detective", "cop", "precinct", "badge", "informant", "robbery", "case", "undercover"]),
    "Documentary": (["nature", "wildlife", "planet", "oceans", "birds", "earth", "climate", "rivers"],
                    ["history", "war", "archive", "biography", "interview", "portrait", "truth", "life"]),
    "Drama": (["mother", "father", "son", "daughter", "family", "grief", "home", "inheritance"],
              ["courtroom", "trial", "justice", "verdict", "lawyer", "testimony", "jury", "appeal"]),
    "Fantasy": (["wizard", "sorcerer", "spell", "wand", "witch", "potion", "amulet", "prophecy"],
                ["elf", "dwarf", "realm", "sword", "knight", "throne", "dragon", "legend"]),
    "Film-Noir": (["shadow", "femme", "fatale", "smoke", "alley", "midnight", "rain", "trench"],
                  ["double", "cross", "blackmail", "dame", "private", "eye", "dark", "city"]),
    "Horror": (["zombie", "undead", "grave", "corpse", "plague", "flesh", "crypt", "ghoul"],
               ["haunted", "ghost", "curse", "demon", "possession", "spirit", "attic", "séance"]),
    "Musical": (["song", "dance", "broadway", "melody", "chorus", "stage", "tap", "rhythm"],
                ["jazz", "band", "swing", "blues", "piano", "trumpet", "club", "harmony"]),
    "Mystery": (["clue", "riddle", "secret", "puzzle", "vanishing", "manor", "butler", "inspector"],
                ["disappearance", "missing", "whisper", "stranger", "hidden", "key", "locked", "room"]),
    "Romance": (["love", "kiss", "heart", "sweetheart", "valentine", "romance", "darling", "bride"],
                ["paris", "café", "summer", "letters", "moonlight", "dance", "promise", "affair"]),
    "Sci-Fi": (["space", "galaxy", "star", "planet", "orbit", "alien", "rocket", "nebula"],
               ["robot", "android", "cyborg", "machine", "circuit", "laser", "future", "clone"]),
    "Thriller": (["spy", "agent", "conspiracy", "cipher", "assassin", "dossier", "embassy", "double"],
                 ["stalker", "obsession", "paranoia", "witness", "trap", "nightmare", "fear", "hunted"]),
    "War": (["battle", "soldier", "platoon", "trench", "general", "front", "regiment", "siege"],
            ["submarine", "navy", "bomber", "squadron", "pilot", "fleet", "torpedo", "destroyer"]),
    "Western": (["cowboy", "sheriff", "outlaw", "saloon", "frontier", "ranch", "gunslinger", "desert"],
                ["canyon", "stagecoach", "railroad", "bounty", "prairie", "horse", "mesa", "noël"]),
}
GENERIC_WORDS = ["the", "last", "return", "night", "day", "first", "great", "little", "big", "new", "old", "final",
                 "second", "of", "red", "blue", "golden", "silent", "american", "señor"]


def generate_synthetic_movielens(num_users=600, num_items=1000, seed=0, title_noise=0.3, preference_strength=0.75,
                                 min_ratings=20, mean_ratings=45):
    """The synthetic world as data: `(genres, items, ratings)`.

    Returns:
        genres: list of str (ml-100k's 19 names, `unknown` first).
        items: list of dicts `{"id", "title", "year", "genres", "theme"}`.
        ratings: list of `(user, item, rating, timestamp)` tuples of ints.
    """
    rng = np.random.default_rng(seed)
    themes = [(genre, words) for genre, pair in THEMES.items() for words in pair]
    genres = list(ML100K_GENRES)
    items, titles = [], set()
    popularity = rng.lognormal(0.0, 1.0, size=num_items)
    for item in range(num_items):
        theme = int(rng.integers(len(themes)))
        genre, words = themes[theme]
        item_genres = [genre]
        if rng.random() < 0.3:
            other = genres[1 + int(rng.integers(len(genres) - 1))]
            if other != genre:
                item_genres.append(other)
        for _ in range(50):
            length = 2 if rng.random() < 0.6 else 3
            chosen = []
            for _ in range(length):
                if rng.random() < title_noise:
                    pool = GENERIC_WORDS if rng.random() < 0.5 else themes[int(rng.integers(len(themes)))][1]
                else:
                    pool = words
                word = pool[int(rng.integers(len(pool)))]
                if word not in chosen:
                    chosen.append(word)
            title = " ".join(w.capitalize() for w in chosen)
            if title not in titles:
                break
        else:  # crowded theme: number the sequel
            title = f"{title} {item}"
        titles.add(title)
        items.append({"id": item + 1, "title": title, "year": int(rng.integers(1930, 1999)),
                      "genres": [g for g in genres if g in item_genres], "theme": theme})

    by_theme = [[i for i, it in enumerate(items) if it["theme"] == t] for t in range(len(themes))]
    ratings = []
    start = 874_724_710  # ml-100k's first timestamp (September 1997)
    for user in range(1, num_users + 1):
        preferred = rng.choice(len(themes), size=2 + int(rng.random() < 0.5), replace=False)
        early, late = rng.dirichlet(np.ones(len(preferred))), rng.dirichlet(np.ones(len(preferred)))
        count = min(num_items, int(np.clip(rng.lognormal(np.log(mean_ratings), 0.6), min_ratings, 5 * mean_ratings)))
        time = start + int(rng.integers(0, 200 * 86400))
        seen = set()
        for event in range(count):
            progress = event / max(1, count - 1)
            if rng.random() < preference_strength:
                weights = (1 - progress) * early + progress * late
                theme = int(preferred[rng.choice(len(preferred), p=weights / weights.sum())])
            else:
                theme = int(rng.integers(len(themes)))
            pool = [i for i in by_theme[theme] if i not in seen]
            if not pool:
                pool = [i for i in range(num_items) if i not in seen]
            p = popularity[pool] / popularity[pool].sum()
            item = int(pool[rng.choice(len(pool), p=p)])
            seen.add(item)
            liked = theme in preferred
            rating = int(np.clip(np.round((4.3 if liked else 2.6) + rng.normal(0, 0.8)), 1, 5))
            time += int(rng.exponential(3 * 3600)) + 1
            ratings.append((user, item + 1, rating, time))
    return genres, items, ratings


def write_synthetic_movielens(out_dir, num_users=600, num_items=1000, seed=0, overwrite=False, **kwargs):
    """Writes a synthetic dataset in the ml-100k layout (u.data, u.item in latin-1, u.genre), atomically.

    Args:
        out_dir: the folder to create.
        num_users, num_items, seed: size and randomness.
        overwrite: replace an existing folder.
        **kwargs: `generate_synthetic_movielens` settings.

    Returns:
        dict: counts and settings (also in `README.synthetic`).

    Example:
    ```python
    write_synthetic_movielens("/tmp/ml-synthetic", num_users=300, num_items=500)
    convert_movielens_100k("/tmp/ml-synthetic", "/tmp/ml-synthetic-tfsearch")
    ```
    """
    genres, items, ratings = generate_synthetic_movielens(num_users, num_items, seed, **kwargs)
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        with open(tmp / "u.genre", "w", encoding="latin-1", newline="\n") as f:
            for index, genre in enumerate(genres):
                f.write(f"{genre}|{index}\n")
            f.write("\n")
        with open(tmp / "u.item", "w", encoding="latin-1", newline="\n") as f:
            for item in items:
                flags = "|".join("1" if g in item["genres"] else "0" for g in genres)
                f.write(f"{item['id']}|{item['title']} ({item['year']})|01-Jan-{item['year']}||"
                        f"http://example.invalid/synthetic/{item['id']}|{flags}\n")
        with open(tmp / "u.data", "w", encoding="ascii", newline="\n") as f:
            for user, item, rating, timestamp in ratings:
                f.write(f"{user}\t{item}\t{rating}\t{timestamp}\n")
        summary = {"synthetic": True, "num_users": num_users, "num_items": num_items, "num_ratings": len(ratings),
                   "seed": seed, **kwargs}
        (tmp / "README.synthetic").write_text(
            "Synthetic data in the MovieLens 100K layout, generated by tfsearch.recommend.synthetic_movielens; "
            "NOT MovieLens.\n" + "\n".join(f"{k}: {v}" for k, v in summary.items()) + "\n", encoding="utf-8")
    return summary
