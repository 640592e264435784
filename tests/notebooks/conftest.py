"""Runs the notebooks of `notebooks/` top to bottom with nbclient, on a tiny configuration."""

import json
import pathlib

import nbformat
import pytest

from tests.conftest import REPO, make_tiny_encoder

NOTEBOOKS = REPO / "notebooks"


def execute_notebook(name, parameters, cwd, timeout=900):
    """Executes `notebooks/NAME` in a fresh kernel, papermill-style.

    A cell assigning `parameters` is inserted after the cell tagged
    `parameters`; any cell error raises `nbclient.exceptions.CellExecutionError`.
    Returns the executed notebook (outputs included; the stored file is not touched).
    """
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name} needs exactly one cell tagged `parameters`"
    source = "\n".join(f"{key} = {(str(value) if isinstance(value, pathlib.PurePath) else value)!r}"
                       for key, value in parameters.items())
    injected = nbformat.v4.new_code_cell(source)
    injected.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(tagged[0] + 1, injected)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def outputs_text(notebook):
    """All stream and text/plain outputs of an executed notebook, joined."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output["text"])
            elif "data" in output and "text/plain" in output["data"]:
                parts.append(output["data"]["text/plain"])
    return "\n".join(parts)


def image_count(notebook):
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


@pytest.fixture(scope="session")
def tiny_model_folder(tmp_path_factory):
    """A random-weight tiny encoder saved as a model folder (what `MODEL` points at in the tests)."""
    folder = tmp_path_factory.mktemp("tiny_model") / "encoder"
    make_tiny_encoder(sequence_length=32).save_to_directory(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_beir(tmp_path_factory):
    """A small BEIR folder with train and test judgements, written from the demo corpus.

    Training queries are 96 document titles (each judged relevant to its own
    document); test queries and judgements are the demo's own.
    """
    from tfsearch.data import demo_dataset

    demo = demo_dataset()
    folder = tmp_path_factory.mktemp("beir") / "tiny"
    (folder / "qrels").mkdir(parents=True)
    corpus = list(demo.iter_corpus())
    with open(folder / "corpus.jsonl", "w") as f:
        for doc in corpus:
            f.write(json.dumps({"_id": doc.id, "title": doc.title, "text": doc.text,
                                "metadata": doc.metadata}) + "\n")
    test_qrels = demo.qrels("test")
    queries = demo.queries()
    with open(folder / "queries.jsonl", "w") as f:
        for qid in test_qrels:
            f.write(json.dumps({"_id": qid, "text": queries[qid].text}) + "\n")
        for doc in corpus[::3]:
            f.write(json.dumps({"_id": f"t-{doc.id}", "text": doc.title}) + "\n")
    with open(folder / "qrels" / "test.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, judged in test_qrels.items():
            for doc_id, score in judged.items():
                f.write(f"{qid}\t{doc_id}\t{score}\n")
    with open(folder / "qrels" / "train.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for doc in corpus[::3]:
            f.write(f"t-{doc.id}\t{doc.id}\t1\n")
    return folder
