"""Training a `ContextQueryTower` as a user tower: history titles before time t -> the next liked item.

The machinery is the training issue's: `TwoTower` (tensorflow-recommenders'
`Retrieval` task, in-batch negatives gathered across replicas, accidental
hits removed), AdamW with `WarmupLinearDecay`. The query tower is the
context tower reading the user's history (no query text); the document tower
is the text encoder of the items. With a frozen encoder (the default) items
are embedded once and looked up (`CachedTextEncoder`), so only the fusion
weights train and a step costs no BERT pass.
"""

import collections
import dataclasses
import time

import numpy as np

from tfsearch.recommend.leave_last_out import chronological, is_positive


@dataclasses.dataclass
class UserTowerConfig:
    """Settings of `train_user_tower`.

    Attributes:
        max_context: history titles read per example (the most recent).
        epochs, batch_size, learning_rate (peak), warmup_fraction, weight_decay:
            optimisation (AdamW, linear warm-up and decay).
        temperature: softmax temperature of the `Retrieval` task.
        train_encoder: also fine-tune the text encoder (slow on CPUs; use a
            learning rate near 5e-5), else freeze it and cache item embeddings.
        projection_dim: with a frozen encoder, a trainable linear head of this
            size over the cached embeddings, shared by items and context (None: none).
        word_buckets: with `projection_dim`, a trainable bag of hashed words
            added to the head (`CachedTextEncoder(word_buckets=...)`): the
            words' meaning for the task is learned, as fine-tuning would, at a
            lookup's cost (None: none).
        num_interests: vectors per user (`ContextQueryTower(num_interests=...)`):
            an item scores its best dot product with them, and each training
            example updates the one nearest its item (1: one vector).
        logq_correction: pass each target's frequency among the training
            targets as `candidate_sampling_probability` (Yi et al., RecSys 2019):
            in-batch negatives are sampled by popularity, and without the
            correction popular items are pushed down.
        max_examples_per_user: keep each user's latest examples only (None: all).
        seed: shuffling and new weights.
    """

    max_context: int = 20
    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.1
    weight_decay: float = 0.0
    temperature: float = 0.05
    train_encoder: bool = False
    projection_dim: int = None
    word_buckets: int = None
    num_interests: int = 1
    logq_correction: bool = True
    max_examples_per_user: int = None
    seed: int = 0

    def __post_init__(self):
        checks = [
            (self.max_context >= 1, "max_context must be at least 1"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 2, "batch_size must be at least 2 (in-batch negatives)"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (0 <= self.warmup_fraction <= 1, "warmup_fraction must be in [0, 1]"),
            (self.temperature > 0, "temperature must be positive"),
            (not (self.train_encoder and self.projection_dim), "projection_dim is for a frozen encoder"),
            (self.projection_dim is None or self.projection_dim >= 1, "projection_dim must be positive"),
            (self.word_buckets is None or self.word_buckets >= 1, "word_buckets must be positive"),
            (self.num_interests >= 1, "num_interests must be at least 1"),
            (self.word_buckets is None or self.projection_dim, "word_buckets needs projection_dim"),
            (self.max_examples_per_user is None or self.max_examples_per_user >= 1,
             "max_examples_per_user must be positive"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ValueError("Invalid user tower settings: " + "; ".join(problems) + ".")


def item_texts(items):
    """`{item_id: text}`: each item's title and text (`Document.contents()`), as the towers read them."""
    return {item_id: doc.contents() for item_id, doc in items.items()}


def padded_context(item_ids, texts, max_context):
    """The texts of the last `max_context` items, oldest first, padded with `""` to `max_context`."""
    recent = [texts[i] for i in item_ids[-max_context:]] if max_context else []
    return recent + [""] * (max_context - len(recent))


def sequential_examples(train, items, max_context, min_rating=None, max_examples_per_user=None):
    """Next-item examples from training interactions.

    For each user, every positive interaction after its first positive is a
    target, and the positives before it (the `max_context` most recent) are
    its context.

    Example: positives a, b, c (in time) give `[a] -> b` and `[a, b] -> c`.

    Args:
        train: list of `Interaction`.
        items: `{item_id: Document}`.
        max_context: int.
        min_rating: float or None, the positive threshold.
        max_examples_per_user: keep each user's latest examples only (None: all).

    Returns:
        dict of lists: `context` `[n][max_context]` texts, `document` `[n]`
        texts and `document_id` `[n]`, `user_id` `[n]`.
    """
    texts = item_texts(items)
    examples = {"context": [], "document": [], "document_id": [], "user_id": []}
    for user, events in sorted(chronological(train).items()):
        liked = [e.item_id for e in events if is_positive(e, min_rating)]
        targets = range(1, len(liked))
        if max_examples_per_user:
            targets = targets[-max_examples_per_user:]
        for t in targets:
            examples["context"].append(padded_context(liked[:t], texts, max_context))
            examples["document"].append(texts[liked[t]])
            examples["document_id"].append(liked[t])
            examples["user_id"].append(user)
    return examples


@dataclasses.dataclass
class UserTowerResult:
    """What `train_user_tower` returns.

    Attributes:
        tower: the trained `ContextQueryTower` (a user tower when called without query).
        item_encoder: the encoder of item texts (a `CachedTextEncoder` when the encoder is frozen).
        report: dict: examples, steps, loss per epoch, seconds.
    """

    tower: object
    item_encoder: object
    report: dict


def train_user_tower(encoder, split, items, config=None, progress=True):
    """Trains a `ContextQueryTower` user tower on a leave-last-out split's training interactions.

    Args:
        encoder: `BertEncoder` (items and context texts).
        split: `LeaveLastOutSplit`.
        items: `{item_id: Document}`.
        config: `UserTowerConfig` (None: the defaults).
        progress: bool. Progress bars.

    Returns:
        `UserTowerResult`.
    """
    import tensorflow as tf

    from tfsearch.models.batch_encoding import encode_texts
    from tfsearch.models.context_query_tower import ContextQueryTower
    from tfsearch.models.two_tower import TwoTower
    from tfsearch.recommend.mean_loss import MeanLoss
    from tfsearch.recommend.cached_text_encoder import CachedTextEncoder
    from tfsearch.training.learning_rate import WarmupLinearDecay

    config = config or UserTowerConfig()
    started = time.perf_counter()
    tf.keras.utils.set_random_seed(config.seed)
    examples = sequential_examples(split.train, items, config.max_context, split.min_rating,
                                   config.max_examples_per_user)
    num_examples = len(examples["document_id"])
    if num_examples < 2:
        raise ValueError(f"{num_examples} training example(s): the user tower needs users with at least two "
                         "positive training interactions.")
    batch_size = min(config.batch_size, num_examples)

    if config.train_encoder:
        text_encoder = encoder
    else:
        texts = sorted(set(item_texts(items).values()))
        embeddings = encode_texts(encoder, texts, progress=progress, description="encoding items")
        text_encoder = CachedTextEncoder(texts, embeddings, encoder=encoder, projection_dim=config.projection_dim,
                                         word_buckets=config.word_buckets)
    tower = ContextQueryTower(text_encoder, max_context=config.max_context, num_interests=config.num_interests)
    model = TwoTower(tower, text_encoder, temperature=config.temperature, remove_accidental_hits=True)

    features = {
        "query": {"context": tf.constant(examples["context"], tf.string)},
        "document": tf.constant(examples["document"], tf.string),
        "document_id": tf.constant(examples["document_id"], tf.string),
    }
    if config.logq_correction:
        counts = collections.Counter(examples["document_id"])
        features["candidate_sampling_probability"] = tf.constant(
            [counts[i] / num_examples for i in examples["document_id"]], tf.float32)
    dataset = (tf.data.Dataset.from_tensor_slices(features)
               .shuffle(num_examples, seed=config.seed, reshuffle_each_iteration=True)
               .batch(batch_size, drop_remainder=True)
               .prefetch(tf.data.AUTOTUNE))
    steps_per_epoch = num_examples // batch_size
    total_steps = steps_per_epoch * config.epochs
    schedule = WarmupLinearDecay(config.learning_rate, int(round(config.warmup_fraction * total_steps)), total_steps)
    optimizer = tf.keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["LayerNorm", "bias"])
    model.compile(optimizer=optimizer)
    mean_loss = MeanLoss()
    model.fit(dataset, epochs=config.epochs, verbose=1 if progress else 0, callbacks=[mean_loss])
    report = {
        "examples": num_examples,
        "batch_size": batch_size,
        "steps": int(model.optimizer.iterations.numpy()),
        "loss": mean_loss.history,  # mean per epoch
        "trainable_weights": int(sum(np.prod(w.shape) for w in tower.trainable_weights)),
        "train_encoder": config.train_encoder,
        "seconds": round(time.perf_counter() - started, 2),
        "config": dataclasses.asdict(config),
    }
    return UserTowerResult(tower=tower, item_encoder=text_encoder, report=report)


def user_contexts(split, items, max_context, users=None):
    """`string [num_users, max_context]` contexts (held-out users' histories) in `users` order (default: sorted)."""
    texts = item_texts(items)
    users = sorted(split.test) if users is None else users
    return users, [padded_context(split.history[u], texts, max_context) for u in users]
