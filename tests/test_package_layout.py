"""The package's layering: lower layers never import the ones built on them; command modules stay small."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "tfsearch"
LOWER = ("models", "embeddings", "index", "layers", "text")
UPPER = ("training", "export", "serving", "cli", "recommend")


def imported_modules(path):
    """Every module a file imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", LOWER)
def test_lower_layers_do_not_import_upper_ones(layer):
    wrong = {f"{path.relative_to(PACKAGE.parent)} imports {name}"
             for path in (PACKAGE / layer).glob("*.py") for name in imported_modules(path)
             if name.split(".")[:2] in [["tfsearch", upper] for upper in UPPER]}
    assert not wrong, sorted(wrong)


def test_the_layering_check_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from tfsearch.training.trainer import train\n")
    assert "tfsearch.training.trainer" in imported_modules(source)


def test_command_modules_are_short():
    lengths = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in (PACKAGE / "cli").glob("*.py")}
    assert len(lengths) >= 10  # __init__, __main__, common, arg_types and one per command group
    assert max(lengths.values()) < 200, lengths


def test_every_subpackage_has_one_explicit_all_and_is_named_at_the_top():
    import tfsearch

    subpackages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py") if p.parent.name != "cli")
    for name in subpackages:
        tree = ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8"))
        assigned = [target.id for node in tree.body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)]
        assert assigned.count("__all__") == 1, name
    # The command line is reached through the `tfsearch` script, not as tfsearch.cli.
    assert sorted(tfsearch._SUBPACKAGES) == subpackages
