"""Leave-last-out: each user's latest positive interactions are the test, what came before is training."""

import collections
import dataclasses


@dataclasses.dataclass
class LeaveLastOutSplit:
    """A leave-last-out split of interactions.

    Attributes:
        train: list of `Interaction`: every event of the users not evaluated,
            and the events of evaluated users before their first held-out one.
        test: `{user_id: [item_id, ...]}`, the held-out positives, oldest first.
        history: `{user_id: [item_id, ...]}`, an evaluated user's positive
            items before the held-out ones, oldest first (the user tower's context).
        seen: `{user_id: set of item_id}`, the training items of each evaluated
            user, left out of its ranking (held-out items are never left out).
        min_rating: the positive threshold (None: every interaction is positive).
    """

    train: list
    test: dict
    history: dict
    seen: dict
    min_rating: float = None

    def qrels(self):
        """`{user_id: {item_id: 1}}`: the held-out items as relevance judgements."""
        return {user: {item: 1 for item in items} for user, items in self.test.items()}

    def is_positive(self, interaction):
        return is_positive(interaction, self.min_rating)

    def summary(self):
        return {
            "train_interactions": len(self.train),
            "train_positives": sum(self.is_positive(i) for i in self.train),
            "test_users": len(self.test),
            "test_items": sum(len(v) for v in self.test.values()),
            "min_rating": self.min_rating,
        }


def is_positive(interaction, min_rating):
    """An interaction counts as positive when unrated, when `min_rating` is None, or rated `>= min_rating`."""
    return min_rating is None or interaction.rating is None or interaction.rating >= min_rating


def chronological(interactions):
    """`{user_id: [Interaction, ...]}`, each user's events by timestamp (ties keep the input order)."""
    by_user = collections.defaultdict(list)
    for interaction in interactions:
        by_user[interaction.user_id].append(interaction)
    # sorted() is stable: equal timestamps keep the file order.
    return {user: sorted(events, key=lambda i: i.timestamp) for user, events in by_user.items()}


def leave_last_out(interactions, num_test=1, min_rating=4.0, min_history=1):
    """Holds out each user's latest `num_test` positive interactions.

    A user is evaluated when it has at least `num_test + min_history`
    positives; its training events are those before the first held-out one
    (later non-positive events are dropped: they are the future). Users with
    fewer positives are not evaluated and all their events are training data.
    When the interactions carry no rating every one is positive.

    Args:
        interactions: iterable of `Interaction`.
        num_test: int. Positives held out per evaluated user.
        min_rating: float or None. Ratings at or above it are positive (4 on
            MovieLens' 1-5 scale); None: every interaction is positive.
        min_history: int. Positives required before the held-out ones (the
            context the user tower reads).

    Returns:
        `LeaveLastOutSplit`.

    Raises:
        ValueError: for `num_test < 1` or `min_history < 0`, or when no user
            can be evaluated.
    """
    if int(num_test) != num_test or num_test < 1:
        raise ValueError(f"`num_test` must be a positive integer, got {num_test!r}.")
    if int(min_history) != min_history or min_history < 0:
        raise ValueError(f"`min_history` must be an integer >= 0, got {min_history!r}.")
    train, test, history, seen = [], {}, {}, {}
    for user, events in chronological(interactions).items():
        positions = [p for p, event in enumerate(events) if is_positive(event, min_rating)]
        if len(positions) < num_test + min_history:
            train.extend(events)
            continue
        held = positions[-num_test:]
        cut = held[0]
        before = events[:cut]
        train.extend(before)
        test[user] = [events[p].item_id for p in held]
        history[user] = [e.item_id for e in before if is_positive(e, min_rating)]
        seen[user] = {e.item_id for e in before} - set(test[user])
    if not test:
        raise ValueError(f"No user has {num_test + min_history} positive interactions"
                         + (f" (rating >= {min_rating:g})" if min_rating is not None else "") + " to evaluate.")
    return LeaveLastOutSplit(train=train, test=test, history=history, seen=seen, min_rating=min_rating)
