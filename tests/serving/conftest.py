"""A tiny exported search model served by the FastAPI app, shared by the serving tests."""

import pytest
import tensorflow as tf

from tests.conftest import make_tiny_encoder
from tfsearch.export import export_search_model
from tfsearch.index import BruteForceIndex

DOCS = ["the cat sat on the mat", "a dog is eating food", "a piece of bread", "tensor flow search",
        "hello world", "the man is eating bread", "cat and dog", "naive cafe food"]
IDS = [f"d{i}" for i in range(len(DOCS))]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from fastapi.testclient import TestClient

    from tfsearch.serving.app import create_app

    encoder = make_tiny_encoder()
    index = BruteForceIndex(k=3).index(encoder(tf.constant(DOCS)).numpy(), IDS)
    base = tmp_path_factory.mktemp("saved") / "tiny"
    export_search_model(encoder, index, base, num_candidates=6, max_k=5,
                        titles={d: f"title of {d}" for d in IDS})
    app = create_app(base, poll_seconds=None)
    with TestClient(app) as client:
        yield client, app, encoder, index, base


