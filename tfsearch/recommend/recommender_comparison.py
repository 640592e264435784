"""`compare_recommenders`: the text user tower against the tensorflow-recommenders ID baseline, one split, one run."""

import dataclasses
import json
import pathlib
import time

import numpy as np

from tfsearch.recommend.id_baseline import IdBaselineConfig
from tfsearch.recommend.recommender_evaluation import (DEFAULT_DIVERSITIES, format_comparison, format_tradeoff,
                                                       paired_bootstrap)
from tfsearch.recommend.user_tower_training import UserTowerConfig
from tfsearch.utils.atomic import atomic_write_text

RESULTS_FILE = "recommend_results.json"
TEXT_MODEL = "text user tower (ContextQueryTower)"
ID_MODEL = "ID two-tower (tfrs basic retrieval)"


@dataclasses.dataclass
class ComparisonConfig:
    """What `compare_recommenders` runs.

    Attributes:
        data: a recommendation folder (corpus.jsonl + interactions).
        model: the text encoder (folder or preset; None: all-MiniLM-L6-v2).
        max_length: tokens per item text (None: the checkpoint's).
        num_test, min_rating, min_history: the leave-last-out split.
        user_tower: `UserTowerConfig`.
        id_baseline: `IdBaselineConfig`.
        id_epochs_choices: epoch counts for the ID baseline, chosen on a
            validation split (each user's last training positive, held out
            of the training interactions) by R@100; () keeps `id_baseline.epochs`.
        aspect_field: item metadata field of aspects (None: no alpha-nDCG, no re-ranking).
        diversities: balances of the aspect re-ranking trade-off.
        candidates: items retrieved per user and re-ranked.
    """

    data: str
    model: str = None
    max_length: int = None
    num_test: int = 1
    min_rating: float = 4.0
    min_history: int = 1
    user_tower: UserTowerConfig = dataclasses.field(default_factory=UserTowerConfig)
    id_baseline: IdBaselineConfig = dataclasses.field(default_factory=IdBaselineConfig)
    id_epochs_choices: tuple = ()
    aspect_field: str = "genre"
    diversities: tuple = DEFAULT_DIVERSITIES
    candidates: int = 100

    def to_dict(self):
        return dataclasses.asdict(self)


def compare_recommenders(config, output_dir=None, progress=True, encoder=None):
    """Splits the interactions leave-last-out, trains both models on the training part, evaluates both.

    Args:
        config: `ComparisonConfig`.
        output_dir: folder for `recommend_results.json` and `comparison.md`, or None.
        progress: bool. Progress bars.
        encoder: an already loaded text encoder (else `config.model` is loaded).

    Returns:
        dict: `split` (counts), `models` (`{name: {"metrics", "by_item_frequency", "tradeoff", "training"}}`),
        `text_minus_id` (per-user paired differences with 95% bootstrap intervals), `config`, `seconds`.
    """
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.recommend.id_baseline import id_embeddings, train_id_baseline
    from tfsearch.recommend.leave_last_out import leave_last_out
    from tfsearch.recommend.recommendation_data import RecommendationData
    from tfsearch.recommend.recommender_evaluation import evaluate_recommender
    from tfsearch.recommend.user_tower_training import item_texts, train_user_tower, user_contexts

    started = time.perf_counter()
    data = RecommendationData(config.data)
    items = data.items()
    item_ids = list(items)
    split = leave_last_out(data.interactions(), num_test=config.num_test, min_rating=config.min_rating,
                           min_history=config.min_history)
    aspects_of = data.aspects(config.aspect_field) if config.aspect_field else None
    if aspects_of is not None and not aspects_of:
        raise ValueError(f"No item has metadata field {config.aspect_field!r}; pass another aspect field or none.")
    users = sorted(split.test)
    evaluation = {"users": users, "aspects_of": aspects_of, "diversities": config.diversities,
                  "candidates": config.candidates}

    if encoder is None:
        encoder = BertEncoder.from_pretrained(config.model, sequence_length=config.max_length)
    text = train_user_tower(encoder, split, items, config.user_tower, progress=progress)
    _, contexts = user_contexts(split, items, config.user_tower.max_context, users)
    user_vectors = _batched(lambda rows: text.tower({"context": np.asarray(rows, object)}), contexts)
    texts = item_texts(items)
    item_vectors = _batched(lambda rows: text.item_encoder(np.asarray(rows, object)), [texts[i] for i in item_ids])
    text_result = evaluate_recommender(user_vectors, item_vectors, item_ids, split, **evaluation)
    text_result["training"] = text.report

    id_config, selection = config.id_baseline, None
    if config.id_epochs_choices:
        id_config, selection = select_id_epochs(split, item_ids, config, progress=progress)
    id_model, id_report = train_id_baseline(split, item_ids, id_config, progress=progress)
    id_report["epoch_selection"] = selection
    id_users, id_items = id_embeddings(id_model, users, item_ids)
    id_result = evaluate_recommender(id_users, id_items, item_ids, split, **evaluation)
    id_result["training"] = id_report

    paired = {name: paired_bootstrap(text_result["per_user"][name], id_result["per_user"][name], seed=0)
              for name in text_result["per_user"]}
    for result in (text_result, id_result):
        result.pop("per_user")
    report = {
        "data": str(data.path),
        "split": {**split.summary(), "num_items": len(item_ids), "method": "leave-last-out",
                  "num_test": config.num_test, "min_history": config.min_history},
        "models": {TEXT_MODEL: text_result, ID_MODEL: id_result},
        "text_minus_id": paired,  # per-user paired differences, 95% bootstrap intervals
        "config": config.to_dict(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if output_dir is not None:
        write_comparison(report, output_dir)
    return report


def select_id_epochs(split, item_ids, config, progress=False):
    """Chooses the ID baseline's epochs by R@100 on a validation split carved out of the training interactions.

    The validation split is `leave_last_out` applied to `split.train` (each
    user's last training positive held out); the test items are never seen.

    Returns:
        `(IdBaselineConfig with the chosen epochs, {"R@100 by epochs": {...}, "epochs": chosen})`.
    """
    from tfsearch.recommend.id_baseline import id_embeddings, train_id_baseline
    from tfsearch.recommend.leave_last_out import leave_last_out
    from tfsearch.recommend.recommender_evaluation import evaluate_recommender

    validation = leave_last_out(split.train, num_test=1, min_rating=config.min_rating,
                                min_history=config.min_history)
    users = sorted(validation.test)
    scores = {}
    for epochs in config.id_epochs_choices:
        candidate = dataclasses.replace(config.id_baseline, epochs=int(epochs))
        model, _ = train_id_baseline(validation, item_ids, candidate, progress=progress)
        user_vectors, item_vectors = id_embeddings(model, users, item_ids)
        result = evaluate_recommender(user_vectors, item_vectors, item_ids, validation, users=users,
                                      candidates=config.candidates)
        scores[int(epochs)] = result["metrics"]["R@100"]
    best = max(scores, key=lambda e: (scores[e], -e))
    return dataclasses.replace(config.id_baseline, epochs=best), {"validation_R@100_by_epochs": scores,
                                                                  "epochs": best}


def _batched(function, rows, batch_size=256):
    parts = [np.asarray(function(rows[b:b + batch_size]), np.float32) for b in range(0, len(rows), batch_size)]
    return np.concatenate(parts)


def format_report(report):
    """The side-by-side table and each model's trade-off table, as Markdown."""
    lines = [format_comparison({name: r["metrics"] for name, r in report["models"].items()})]
    if report.get("text_minus_id"):
        lines += ["", "Text minus ID, per-user paired, 95% bootstrap interval:", ""]
        lines += [f"- {name}: {d['mean_difference']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]"
                  for name, d in report["text_minus_id"].items()]
    for name, result in report["models"].items():
        if result["tradeoff"]:
            lines += ["", f"Aspect re-ranking (DiversityReranker aspects, genres), {name}:", "",
                      format_tradeoff(result["tradeoff"])]
    return "\n".join(lines)


def write_comparison(report, output_dir):
    """Writes `comparison.md` and `recommend_results.json` (last), atomically."""
    output_dir = pathlib.Path(output_dir)
    atomic_write_text(output_dir / "comparison.md", format_report(report) + "\n")
    atomic_write_text(output_dir / RESULTS_FILE, json.dumps(report, indent=2) + "\n")
