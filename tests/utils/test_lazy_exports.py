import subprocess
import sys
import types

import pytest

from tests.conftest import REPO
from tfsearch.utils.lazy_exports import lazy_exports


def make_package(name, **defined):
    package = types.ModuleType(name)
    package.__dict__.update(defined)
    sys.modules[name] = package
    return package


def test_names_load_on_first_use_and_dir_lists_them():
    package = make_package("lazy_test_package", EAGER=1)
    try:
        getattr_, dir_ = lazy_exports("lazy_test_package", ["EAGER", "dumps", "sqrt"],
                                      {"json": ("dumps",), "math": ("sqrt",)}, subpackages=("path",))
        import json
        import math

        assert getattr_("dumps") is json.dumps and getattr_("sqrt") is math.sqrt
        assert {"EAGER", "dumps", "sqrt", "path"} <= set(dir_())
        with pytest.raises(AttributeError, match="module 'lazy_test_package' has no attribute 'loads'"):
            getattr_("loads")
    finally:
        del sys.modules[package.__name__]


def test_all_and_the_lazy_names_must_agree():
    make_package("lazy_test_package")
    try:
        with pytest.raises(ValueError, match=r"lazy but not in `__all__`: \['sqrt'\]"):
            lazy_exports("lazy_test_package", [], {"math": ("sqrt",)})
        with pytest.raises(ValueError, match=r"neither defined nor lazy: \['missing'\]"):
            lazy_exports("lazy_test_package", ["missing"], {})
        with pytest.raises(ValueError, match="from both math and cmath"):
            lazy_exports("lazy_test_package", ["sqrt"], {"math": ("sqrt",), "cmath": ("sqrt",)})
        with pytest.raises(TypeError, match="tuple of names"):
            lazy_exports("lazy_test_package", ["sqrt"], {"math": "sqrt"})
    finally:
        del sys.modules["lazy_test_package"]


def test_importing_the_packages_loads_no_tensorflow():
    code = ("import sys, tfsearch, tfsearch.training, tfsearch.recommend, tfsearch.utils\n"
            "tfsearch.training.TrainConfig, tfsearch.training.STRATEGIES, tfsearch.TrainConfig\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_public_name_and_subpackage_of_tfsearch_resolves():
    import tfsearch
    import tfsearch.recommend
    import tfsearch.training

    for package in (tfsearch, tfsearch.training, tfsearch.recommend):
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
    assert set(tfsearch._SUBPACKAGES) == {"data", "embeddings", "eval", "export", "hybrid", "index", "layers", "models",
                                          "recommend", "serving", "text", "training", "utils"}
    for name in tfsearch._SUBPACKAGES:
        assert getattr(tfsearch, name).__name__ == f"tfsearch.{name}"
