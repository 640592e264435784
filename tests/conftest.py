"""Shared fixtures. Keras 2 must be selected before TensorFlow is imported."""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib  # noqa: E402

import pytest  # noqa: E402

import tfsearch  # noqa: E402,F401

REPO = pathlib.Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "data" / "scifact"

# A tiny uncased WordPiece vocabulary: specials, whole words, sub-words and
# single characters so that any lower-case ASCII word can be tokenised.
TINY_WORDS = [
    "the", "cat", "dog", "sat", "on", "mat", "is", "eating", "food", "man", "bread", "piece", "of",
    "search", "tensor", "flow", "cafe", "naive", "hello", "world", ".", ",", "!", "?", "-", "'", "(", ")",
]
TINY_PIECES = ["##ing", "##ed", "##er", "##flow"]
TINY_CHARS = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
TINY_VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + TINY_WORDS
    + TINY_PIECES
    + TINY_CHARS
    + ["##" + c for c in TINY_CHARS]
)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: uses the real checkpoint or full SciFact (minutes)")


@pytest.fixture(scope="session")
def tiny_vocab():
    return list(TINY_VOCAB)


@pytest.fixture(scope="session")
def scifact_dir():
    if not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact not found at {SCIFACT}")
    return SCIFACT


def make_tiny_encoder(sequence_length=16, pooling="mean", projection_dim=None, normalize=True, seed=0):
    """A random-weight BertEncoder small enough for unit tests."""
    import tensorflow as tf

    from tfsearch.models.bert_backbone import BertBackbone
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.text.wordpiece_tokenizer import WordPieceTokenizer

    tf.keras.utils.set_random_seed(seed)
    tokenizer = WordPieceTokenizer(TINY_VOCAB, sequence_length=sequence_length, name="tokenizer")
    backbone = BertBackbone(
        vocabulary_size=len(TINY_VOCAB), hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32,
        max_sequence_length=64, name="backbone",
    )
    return BertEncoder(backbone, tokenizer, pooling=pooling, projection_dim=projection_dim, normalize=normalize)


@pytest.fixture
def tiny_encoder():
    return make_tiny_encoder()


@pytest.fixture(scope="session")
def pretrained_dir():
    from tfsearch.models.presets import CheckpointNotFoundError, preset_dir

    try:
        return preset_dir()
    except CheckpointNotFoundError as e:
        pytest.skip(str(e))
