"""Leave-last-out on a hand-made example, with the expected values worked out in comments."""

import pytest

from tfsearch.recommend.interactions import Interaction
from tfsearch.recommend.leave_last_out import leave_last_out
from tfsearch.recommend.user_tower_training import sequential_examples


def events():
    return [
        # user a, in file order (not time order): positives (rating >= 4) are i1 (t=1), i3 (t=3), i4 (t=4).
        Interaction("a", "i3", 3, 4.0),
        Interaction("a", "i1", 1, 5.0),
        Interaction("a", "i2", 2, 2.0),
        Interaction("a", "i5", 5, 1.0),   # after the held-out i4: the future, dropped
        Interaction("a", "i4", 4, 5.0),
        # user b: no positive at all -> not evaluated, all training.
        Interaction("b", "j1", 10, 3.0),
        # user c: one positive -> nothing left as history (min_history=1) -> not evaluated, all training.
        Interaction("c", "i2", 5, 4.0),
        # user d: two positives at the same timestamp -> file order breaks the tie: i2 is the later one.
        Interaction("d", "i1", 7, 5.0),
        Interaction("d", "i2", 7, 4.0),
    ]


def test_split_on_a_hand_made_example():
    split = leave_last_out(events(), num_test=1, min_rating=4.0)
    # a: latest positive i4 held out; history = positives before it: i1 (t=1), i3 (t=3).
    # d: i2 held out (tie broken by file order); history [i1].
    assert split.test == {"a": ["i4"], "d": ["i2"]}
    assert split.history == {"a": ["i1", "i3"], "d": ["i1"]}
    # a's training events: everything before i4 in time: i1, i2 (the 2-star one), i3; i5 (t=5) is dropped.
    assert split.seen == {"a": {"i1", "i2", "i3"}, "d": {"i1"}}
    train = sorted((i.user_id, i.item_id) for i in split.train)
    assert train == [("a", "i1"), ("a", "i2"), ("a", "i3"), ("b", "j1"), ("c", "i2"), ("d", "i1")]
    assert split.qrels() == {"a": {"i4": 1}, "d": {"i2": 1}}
    # 6 training events, of which positive: a/i1, a/i3, c/i2, d/i1 = 4; 2 test users, 2 test items.
    assert split.summary() == {"train_interactions": 6, "train_positives": 4, "test_users": 2, "test_items": 2,
                               "min_rating": 4.0}


def test_two_held_out_and_no_ratings():
    # num_test=2: a holds out i3 and i4 (its last two positives); history i1 (t=1), training i1, i2.
    split = leave_last_out(events(), num_test=2, min_rating=4.0)
    assert split.test == {"a": ["i3", "i4"]} and split.history == {"a": ["i1"]}
    assert split.seen == {"a": {"i1", "i2"}}
    # Without ratings every event is positive: a's latest is i5 (t=5), history i1, i2, i3, i4.
    unrated = [Interaction(i.user_id, i.item_id, i.timestamp) for i in events()]
    split = leave_last_out(unrated, num_test=1)
    assert split.test["a"] == ["i5"] and split.history["a"] == ["i1", "i2", "i3", "i4"]
    assert split.test["b"] if "b" in split.test else True
    # b has a single event: with min_history=1 it is not evaluated.
    assert "b" not in split.test and "c" not in split.test


def test_a_held_out_item_seen_before_stays_rankable():
    split = leave_last_out([Interaction("u", "x", 1, 5.0), Interaction("u", "y", 2, 4.0),
                            Interaction("u", "x", 3, 5.0)])
    assert split.test == {"u": ["x"]} and split.seen == {"u": {"y"}}


def test_errors():
    with pytest.raises(ValueError, match="num_test"):
        leave_last_out(events(), num_test=0)
    with pytest.raises(ValueError, match="No user has 3 positive interactions"):
        leave_last_out([Interaction("u", "x", 1, 5.0)], num_test=1, min_history=2)


def test_sequential_examples_from_training_positives():
    from tfsearch.data.beir import Document

    items = {i: Document(i, f"title {i}", "") for i in ("i1", "i2", "i3", "i4", "i5", "j1")}
    split = leave_last_out(events())
    examples = sequential_examples(split.train, items, max_context=1, min_rating=4.0)
    # a's training positives in time: i1, i3 -> one example [i1] -> i3. c and d have one positive each: none.
    assert examples["document_id"] == ["i3"] and examples["user_id"] == ["a"]
    assert examples["context"] == [["title i1"]] and examples["document"] == ["title i3"]
    examples = sequential_examples(events(), items, max_context=3, min_rating=4.0)
    # Over all events: a's positives i1, i3, i4 -> [i1]->i3 and [i1, i3]->i4 (padded to 3); d: [i1]->i2.
    assert examples["document_id"] == ["i3", "i4", "i2"]
    assert examples["context"][1] == ["title i1", "title i3", ""]
