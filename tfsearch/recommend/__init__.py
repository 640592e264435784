"""Text-based recommendation: the context-aware query tower as a user tower over item titles.

Interactions format and MovieLens 100K converter, leave-last-out split, user
tower training (tfrs `Retrieval` through `TwoTower`), the tfrs ID-embedding
baseline, evaluation with aspect (genre) re-ranking, `tfsearch recommend`.
Imported lazily, so that `tfsearch recommend --help` does not load TensorFlow.
"""

_LAZY = {
    "CachedTextEncoder": "tfsearch.recommend.cached_text_encoder",
    "ComparisonConfig": "tfsearch.recommend.recommender_comparison",
    "IdBaselineConfig": "tfsearch.recommend.id_baseline",
    "IdRetrievalModel": "tfsearch.recommend.id_baseline",
    "Interaction": "tfsearch.recommend.interactions",
    "InteractionsFormatError": "tfsearch.recommend.interactions",
    "LeaveLastOutSplit": "tfsearch.recommend.leave_last_out",
    "MovieLensFormatError": "tfsearch.recommend.movielens",
    "RecommendationData": "tfsearch.recommend.recommendation_data",
    "UserTowerConfig": "tfsearch.recommend.user_tower_training",
    "compare_recommenders": "tfsearch.recommend.recommender_comparison",
    "convert_movielens_100k": "tfsearch.recommend.movielens",
    "evaluate_recommender": "tfsearch.recommend.recommender_evaluation",
    "leave_last_out": "tfsearch.recommend.leave_last_out",
    "read_interactions": "tfsearch.recommend.interactions",
    "train_id_baseline": "tfsearch.recommend.id_baseline",
    "train_user_tower": "tfsearch.recommend.user_tower_training",
    "write_interactions": "tfsearch.recommend.interactions",
    "write_synthetic_movielens": "tfsearch.recommend.synthetic_movielens",
}


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfsearch.recommend' has no attribute {name!r}")


__all__ = list(_LAZY)
