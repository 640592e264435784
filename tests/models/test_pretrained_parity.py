"""Parity of tfsearch's in-graph pipeline with Hugging Face on the real checkpoint."""

import json

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoder(pretrained_dir):
    from tfsearch.models.bert_encoder import BertEncoder

    return BertEncoder.from_pretrained(str(pretrained_dir))


@pytest.fixture(scope="module")
def hf_tokenizer(pretrained_dir):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(pretrained_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def scifact_texts(scifact_dir):
    texts = []
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            texts.append((doc["title"] + " " + doc["text"]).strip())
    with open(scifact_dir / "queries.jsonl", encoding="utf-8") as f:
        texts.extend(json.loads(line)["text"] for line in f)
    return texts


def test_tokenisation_parity_on_all_of_scifact(encoder, hf_tokenizer, scifact_dir):
    texts = scifact_texts(scifact_dir)
    assert len(texts) == 5183 + 1109
    reference = [e.ids[1:-1] for e in hf_tokenizer.encode_batch(texts)]
    ours = []
    for start in range(0, len(texts), 512):
        ours.extend(encoder.tokenizer.tokenize(tf.constant(texts[start : start + 512])).to_list())
    different = [i for i, (a, b) in enumerate(zip(reference, ours)) if a != b]
    identical = 1 - len(different) / len(texts)
    print(f"tokenisation parity: {len(texts) - len(different)}/{len(texts)} identical ({identical:.4%})")
    assert identical >= 0.999, [texts[i][:80] for i in different[:5]]


def test_classic_pair_cosine(encoder):
    a, b = encoder(tf.constant(["A man is eating food.", "A man is eating a piece of bread."])).numpy()
    # sentence-transformers reports 0.755 for this pair with all-MiniLM-L6-v2.
    assert float(a @ b) == pytest.approx(0.755, abs=0.001)


def test_embedding_parity_with_hugging_face_tokenisation(encoder, hf_tokenizer, scifact_dir):
    texts = scifact_texts(scifact_dir)
    sample = texts[:24] + texts[-24:] + ["hello\x00world", "Straße naïve 東京 😀", ""]
    ours = encoder(tf.constant(sample)).numpy()
    hf_tokenizer.enable_truncation(max_length=encoder.sequence_length)
    encodings = hf_tokenizer.encode_batch(sample)
    width = max(len(e.ids) for e in encodings)
    ids = np.array([e.ids + [0] * (width - len(e.ids)) for e in encodings], np.int32)
    mask = np.array([[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in encodings], bool)
    reference = encoder.encode_tokens(tf.constant(ids), tf.constant(mask)).numpy()
    cosines = (ours * reference).sum(axis=1)
    print(f"embedding parity: min cosine {cosines.min():.6f} over {len(sample)} texts")
    assert cosines.min() >= 0.999


def test_bfloat16_compute_stays_within_cosine_0999(encoder, pretrained_dir, scifact_dir):
    from tfsearch.models.bert_encoder import BertEncoder

    fast = BertEncoder.from_pretrained(str(pretrained_dir), dtype="mixed_bfloat16")
    sample = scifact_texts(scifact_dir)[:32]
    cosines = (fast(tf.constant(sample)).numpy() * encoder(tf.constant(sample)).numpy()).sum(axis=1)
    print(f"bfloat16 vs float32: min cosine {cosines.min():.6f}")
    assert cosines.min() >= 0.999
