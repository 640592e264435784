"""Text-based recommendation: the context-aware query tower as a user tower over item titles.

Interactions format and MovieLens 100K converter, leave-last-out split, user
tower training (tfrs `Retrieval` through `TwoTower`), the tfrs ID-embedding
baseline, evaluation with aspect (genre) re-ranking, `tfsearch recommend`.
Imported lazily, so that `tfsearch recommend --help` does not load TensorFlow.
"""

from tfsearch.utils.lazy_exports import lazy_exports

__all__ = ["CachedTextEncoder", "ComparisonConfig", "IdBaselineConfig", "IdRetrievalModel", "Interaction",
           "InteractionsFormatError", "LeaveLastOutSplit", "MovieLensFormatError", "RecommendationData",
           "UserTowerConfig", "compare_recommenders", "convert_movielens_100k", "evaluate_recommender",
           "leave_last_out", "read_interactions", "train_id_baseline", "train_user_tower", "write_interactions",
           "write_synthetic_movielens"]

__getattr__, __dir__ = lazy_exports(__name__, __all__, {
    "tfsearch.recommend.cached_text_encoder": ("CachedTextEncoder",),
    "tfsearch.recommend.recommender_comparison": ("ComparisonConfig", "compare_recommenders"),
    "tfsearch.recommend.id_baseline": ("IdBaselineConfig", "IdRetrievalModel", "train_id_baseline"),
    "tfsearch.recommend.interactions": ("Interaction", "InteractionsFormatError", "read_interactions",
                                        "write_interactions"),
    "tfsearch.recommend.leave_last_out": ("LeaveLastOutSplit", "leave_last_out"),
    "tfsearch.recommend.movielens": ("MovieLensFormatError", "convert_movielens_100k"),
    "tfsearch.recommend.recommendation_data": ("RecommendationData",),
    "tfsearch.recommend.user_tower_training": ("UserTowerConfig", "train_user_tower"),
    "tfsearch.recommend.recommender_evaluation": ("evaluate_recommender",),
    "tfsearch.recommend.synthetic_movielens": ("write_synthetic_movielens",),
})
