"""In-graph BERT WordPiece tokenizer: strings in, padded token ids out."""

import collections
import os

import tensorflow as tf
import tensorflow_text as tf_text


def read_vocabulary(vocabulary):
    """Returns the vocabulary as a list of tokens.

    Args:
        vocabulary: a path to a `vocab.txt` file (one token per line) or a list
            of tokens.
    """
    if isinstance(vocabulary, (str, os.PathLike)):
        path = os.fspath(vocabulary)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Vocabulary file not found: {path}")
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\n").rstrip("\r") for line in f]
        while tokens and tokens[-1] == "":
            tokens.pop()
        return tokens
    tokens = list(vocabulary)
    if not all(isinstance(t, str) for t in tokens):
        raise TypeError("`vocabulary` must be a path or a list of str tokens.")
    return tokens


# Letters (category Lo, caseless, not CJK) that stand in for characters the
# two tokenizers classify differently; the first one absent from the vocabulary is used.
_PLACEHOLDER_LETTERS = ("\ua66e", "\u16a0", "\u2d30")


@tf.keras.utils.register_keras_serializable(package="tfsearch")
class WordPieceTokenizer(tf.keras.layers.Layer):
    """BERT WordPiece tokenizer that runs inside the TensorFlow graph.

    It reproduces the Hugging Face `BertTokenizerFast` pipeline for the same
    vocabulary: control characters are removed (tab, newline and carriage
    return become spaces), and for uncased vocabularies the text is lower-cased,
    NFD-normalised and stripped of combining accents; then text is split on
    whitespace, punctuation and CJK characters, and each word is split greedily
    into the longest WordPiece sub-words (`[UNK]` when impossible, and for words
    over 100 bytes). Unlike `tensorflow_text.BertTokenizer(lower_case=True)`,
    which applies NFKC case folding ("µ" -> "μ", "…" -> "...", "²" -> "2"), the
    normalisation here is the one the checkpoint was trained with.

    Sequences are truncated to `sequence_length` tokens including `[CLS]` and
    `[SEP]`; a batch is padded to its longest sequence (never beyond
    `sequence_length`), so short batches cost little. Longer texts are
    silently truncated, as in Hugging Face and sentence-transformers.

    Args:
        vocabulary: list of str, or a path to `vocab.txt`. Token `i` has id `i`.
        sequence_length: int. Maximum number of tokens per text, including
            `[CLS]` and `[SEP]`. Defaults to `256`.
        lowercase: bool. Lower-case and strip accents (uncased checkpoints).
            Defaults to `True`.
        **kwargs: standard `tf.keras.layers.Layer` arguments.

    Call arguments:
        texts: string tensor `[batch]`.

    Returns:
        A dict with `token_ids` (int32 `[batch, seq]`, `2 <= seq <= sequence_length`;
        an empty batch is `[0, 2]`) and `padding_mask` (bool `[batch, seq]`, True
        on real tokens).

    Example:
    ```python
    tokenizer = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat"],
                                   sequence_length=8)
    tokenizer(tf.constant(["The cat", "cat"]))["token_ids"]
    # [[2, 4, 5, 3], [2, 5, 3, 0]]
    ```
    """

    def __init__(self, vocabulary, sequence_length=256, lowercase=True, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        vocabulary = read_vocabulary(vocabulary)
        if len(set(vocabulary)) != len(vocabulary):
            duplicates = sorted(t for t, n in collections.Counter(vocabulary).items() if n > 1)[:5]
            raise ValueError(f"The vocabulary has duplicate tokens, e.g. {duplicates}.")
        for token in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
            if token not in vocabulary:
                raise ValueError(f"The vocabulary has no {token} token; is it a BERT vocab.txt?")
        if int(sequence_length) < 2:
            raise ValueError(f"`sequence_length` must be at least 2, got {sequence_length}.")

        # === Config ===
        self.vocabulary = vocabulary
        self.sequence_length = int(sequence_length)
        self.lowercase = bool(lowercase)

        # === Special tokens ===
        self.pad_token_id = vocabulary.index("[PAD]")
        self.cls_token_id = vocabulary.index("[CLS]")
        self.sep_token_id = vocabulary.index("[SEP]")

        # TF Text splits U+2B820..U+2B91F (CJK Extension E) off as Chinese
        # characters; Hugging Face's tokenizer does not (its range starts at
        # U+2B920). They are swapped for a letter missing from the vocabulary,
        # so that a word holding one becomes [UNK] whole, as in Hugging Face.
        vocabulary_set = set(vocabulary)
        self._cjk_gap_placeholder = next(
            (c for c in _PLACEHOLDER_LETTERS if c not in vocabulary_set and "##" + c not in vocabulary_set), None
        )

        # === Layers ===
        # Normalisation is done by `_normalize`; the fast tokenizer only splits.
        self._wordpiece = tf_text.FastBertTokenizer(
            vocab=vocabulary,
            token_out_type=tf.int32,
            unknown_token="[UNK]",
            lower_case_nfd_strip_accents=False,
        )

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def _normalize(self, texts):
        # Hugging Face's BertNormalizer: \t \n \r count as spaces, every other
        # character of Unicode category C (and U+FFFD) is dropped.
        texts = tf.strings.regex_replace(texts, r"[\t\n\r]", " ")
        texts = tf.strings.regex_replace(texts, r"[\p{C}\x{FFFD}]", "")
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
            texts = tf_text.normalize_utf8(texts, "NFD")
            texts = tf.strings.regex_replace(texts, r"\p{Mn}", "")
        if self._cjk_gap_placeholder is not None:
            texts = tf.strings.regex_replace(texts, r"[\x{2B820}-\x{2B91F}]", self._cjk_gap_placeholder)
        return texts

    def tokenize(self, texts):
        """Returns the word-piece ids without special tokens, ragged `[batch, None]`."""
        texts = tf.reshape(tf.convert_to_tensor(texts, dtype=tf.string), [-1])
        return self._wordpiece.tokenize(self._normalize(texts))

    def call(self, texts):
        pieces = self.tokenize(texts)[:, : self.sequence_length - 2]
        batch_size = pieces.nrows()
        cls = tf.fill([batch_size, 1], tf.constant(self.cls_token_id, tf.int32))
        sep = tf.fill([batch_size, 1], tf.constant(self.sep_token_id, tf.int32))
        ragged = tf.concat([tf.RaggedTensor.from_tensor(cls), pieces, tf.RaggedTensor.from_tensor(sep)], axis=1)
        # At least 2 wide ([CLS] [SEP], what every text has): an empty batch is then [0, 2], which the
        # encoder runs like any other, where [0, 0] left its attention without a key to multiply.
        width = tf.maximum(ragged.bounding_shape(axis=1), 2)
        token_ids = ragged.to_tensor(default_value=self.pad_token_id, shape=tf.stack([batch_size, width]))
        padding_mask = tf.sequence_mask(ragged.row_lengths(), maxlen=width)
        return {"token_ids": token_ids, "padding_mask": padding_mask}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "sequence_length": self.sequence_length,
                "lowercase": self.lowercase,
            }
        )
        return config
