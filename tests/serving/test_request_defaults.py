"""What `tfsearch serve` fills in for `k` and `diversity`: the export's decision, never a literal of its own."""

from tfsearch.export import DEFAULT_MAX_K, default_k
from tfsearch.serving.model_store import LoadedVersion

SEARCH_DEFAULTS = {"serving_default": {"k": 5, "diversity": 0.0}, "search": {"k": 5, "diversity": 0.0}}


def version(info, defaults=None):
    return LoadedVersion(1, model=None, info=info, titles={}, defaults=defaults or {})


def test_the_export_metadata_decides():
    loaded = version({"max_k": 30, "defaults": {"k": 7, "diversity": 0.25}}, SEARCH_DEFAULTS)
    assert loaded.max_k == 30
    assert loaded.request_defaults("search") == {"k": 7, "diversity": 0.25}


def test_older_exports_fall_back_to_the_signature_defaults_then_the_export_rule():
    assert version({"max_k": 5}, SEARCH_DEFAULTS).request_defaults("search") == {"k": 5, "diversity": 0.0}
    bare = version({})  # no metadata, no SignatureDef defaults
    assert bare.max_k == DEFAULT_MAX_K
    assert bare.request_defaults("search") == {"k": default_k(DEFAULT_MAX_K), "diversity": 0.0}
    assert version({"max_k": 3}).request_defaults("encode_query")["k"] == 3
