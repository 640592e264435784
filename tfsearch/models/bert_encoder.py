"""A text tower: strings in, L2-normalised embeddings out, all in-graph."""

import json
import pathlib

import tensorflow as tf

from tfsearch.models.bert_backbone import BertBackbone
from tfsearch.models.presets import CheckpointNotFoundError, resolve_checkpoint
from tfsearch.models.tower_saving import BuildsByCalling, read_weights, write_weights
from tfsearch.text.wordpiece_tokenizer import WordPieceTokenizer, read_vocabulary
from tfsearch.utils.atomic import atomic_directory
from tfsearch.utils.folder_files import read_metadata, write_metadata

ENCODER_CONFIG_FILE = "tfsearch_encoder.json"
_POOLINGS = ("mean", "cls")


@tf.keras.utils.register_keras_serializable(package="tfsearch")
class BertEncoder(BuildsByCalling, tf.keras.Model):
    """BERT text encoder with in-graph WordPiece tokenisation.

    The tokenizer, the BERT backbone, pooling (`"mean"` over real tokens or
    the `"cls"` token), an optional linear projection and L2 normalisation all
    run in one TensorFlow graph, so the encoder can be exported to a SavedModel
    that takes raw strings.

    Args:
        backbone: `BertBackbone` (or its serialised config).
        tokenizer: `WordPieceTokenizer` (or its serialised config).
        pooling: str. `"mean"` or `"cls"`. Defaults to `"mean"`.
        projection_dim: int or None. Adds a `Dense(projection_dim)` head.
        normalize: bool. L2-normalise the output. Defaults to `True`.
        **kwargs: standard `tf.keras.Model` arguments.

    Call arguments:
        texts: string tensor `[batch]`.

    Returns:
        float32 tensor `[batch, embedding_dim]` where `embedding_dim` is
        `projection_dim` or the backbone's `hidden_dim`.

    Example:
    ```python
    encoder = BertEncoder.from_pretrained()  # all-MiniLM-L6-v2
    embeddings = encoder(tf.constant(["A man is eating food."]))  # [1, 384]
    ```
    """

    def __init__(self, backbone, tokenizer, pooling="mean", projection_dim=None, normalize=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(backbone, dict):
            backbone = tf.keras.layers.deserialize(backbone)
        if isinstance(tokenizer, dict):
            tokenizer = tf.keras.layers.deserialize(tokenizer)
        if pooling not in _POOLINGS:
            raise ValueError(f"`pooling` must be one of {_POOLINGS}, got {pooling!r}.")
        if tokenizer.vocabulary_size != backbone.vocabulary_size:
            raise ValueError(
                f"The tokenizer has {tokenizer.vocabulary_size} tokens but the backbone "
                f"expects {backbone.vocabulary_size}."
            )
        if projection_dim is not None and int(projection_dim) <= 0:
            raise ValueError(f"`projection_dim` must be positive or None, got {projection_dim}.")

        # === Layers ===
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.projection = (
            tf.keras.layers.Dense(int(projection_dim), name="projection") if projection_dim is not None else None
        )

        # === Config ===
        self.pooling = pooling
        self.projection_dim = None if projection_dim is None else int(projection_dim)
        self.normalize = bool(normalize)

    @property
    def embedding_dim(self):
        return self.projection_dim or self.backbone.hidden_dim

    @property
    def sequence_length(self):
        return self.tokenizer.sequence_length

    def encode_tokens(self, token_ids, padding_mask, training=False):
        """Embeds already tokenised inputs `[batch, seq]` -> `[batch, embedding_dim]`."""
        hidden = tf.cast(self.backbone(token_ids, padding_mask, training=training), tf.float32)
        if self.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            # expand_dims, not [..., None]: TensorFlow Lite converts it (tfsearch.models.LiteEncoder).
            mask = tf.expand_dims(tf.cast(padding_mask, hidden.dtype), -1)
            pooled = tf.reduce_sum(hidden * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1e-9)
        if self.projection is not None:
            pooled = tf.cast(self.projection(pooled), tf.float32)
        if self.normalize:
            pooled = tf.math.l2_normalize(pooled, axis=-1)
        return pooled

    def call(self, texts, training=False):
        tokens = self.tokenizer(texts)
        return self.encode_tokens(tokens["token_ids"], tokens["padding_mask"], training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": tf.keras.layers.serialize(self.backbone),
                "tokenizer": tf.keras.layers.serialize(self.tokenizer),
                "pooling": self.pooling,
                "projection_dim": self.projection_dim,
                "normalize": self.normalize,
            }
        )
        return config

    # --- Inference ----------------------------------------------------------

    def inference_copy(self):
        """This encoder with its weights stored in its compute dtype, for inference.

        A mixed-precision encoder (`"mixed_bfloat16"`) keeps float32 weights,
        which training needs, and casts each of them to bfloat16 on every call,
        whatever the call's batch (and once per chunk where an export encodes
        in length-sorted chunks). The copy stores them cast (policy
        `"bfloat16"`; `"float16"` for `"mixed_float16"`), so a SavedModel of
        it reads them as they are, in half the space. Its layer
        normalisations then run in bfloat16 as well; `bench/serve.py`
        records how close its embeddings and results stay to float32's
        (`precision` in its result). Inference only: the copy is not for
        training.

        Returns:
            `BertEncoder`: a new encoder with the same config and weights, or
            this one when its weights already are in its compute dtype
            (float32 encoders).

        Example:
        ```python
        encoder = BertEncoder.from_pretrained(dtype="mixed_bfloat16")
        served = encoder.inference_copy()
        served.backbone.variable_dtype  # "bfloat16"
        ```
        """
        self._ensure_built()
        compute_dtype = self.backbone.compute_dtype
        if self.backbone.variable_dtype == compute_dtype:
            return self
        config = self.get_config()
        config["backbone"]["config"]["dtype"] = compute_dtype
        copy = type(self).from_config(config)
        copy._ensure_built()
        copy.set_weights(self.get_weights())
        return copy

    # --- Checkpoints ------------------------------------------------------

    def save_to_directory(self, path, overwrite=False):
        """Writes the encoder (config, vocabulary, weights) to a folder, atomically.

        The folder holds `tfsearch_encoder.json` (the Keras config, with the
        vocabulary moved to `vocab.txt`) and a TensorFlow checkpoint under
        `weights/`. `BertEncoder.from_pretrained(path)` reads it back.
        """
        with atomic_directory(path, overwrite=overwrite) as tmp:
            self.write_files(tmp)
        return pathlib.Path(path)

    def write_files(self, folder):
        """Writes the files of `save_to_directory` into an existing folder (not atomic by itself)."""
        self._ensure_built()
        folder = pathlib.Path(folder)
        config = self.get_config()
        config["tokenizer"]["config"]["vocabulary"] = "vocab.txt"
        write_metadata(folder, ENCODER_CONFIG_FILE, config, final_newline=False)
        (folder / "vocab.txt").write_text("\n".join(self.tokenizer.vocabulary) + "\n", encoding="utf-8")
        write_weights(folder, encoder=self)

    def _ensure_built(self):
        if not self.built:
            self(tf.constant(["build"]))

    @classmethod
    def from_pretrained(cls, model=None, sequence_length=None, pooling=None, projection_dim=None, normalize=True,
                        dtype=None):
        """Loads an encoder from a checkpoint folder or a preset, without torch.

        Args:
            model: None (the default preset, all-MiniLM-L6-v2), a preset name,
                a Hugging Face BERT folder (`config.json`, `vocab.txt`,
                `model.safetensors`) or a folder written by `save_to_directory`.
            sequence_length: int or None. Maximum tokens per text. None takes
                the checkpoint's own setting (`sentence_bert_config.json`), or 256.
            pooling: str or None. None takes the checkpoint's pooling config, or "mean".
            projection_dim: int or None. Adds a fresh projection head (Hugging
                Face checkpoints only).
            normalize: bool. L2-normalise embeddings.
            dtype: the backbone's compute precision: None (as saved; float32
                for Hugging Face checkpoints), `"float32"`, `"mixed_bfloat16"`,
                `"mixed_float16"`, or `"auto"`: bfloat16 where this machine
                computes it natively (CPUs with AVX512-BF16 or AMX-BF16, TPUs,
                GPUs of compute capability 8.0+), float16 on GPUs of compute
                capability 7.x, float32 elsewhere (see
                `tfsearch.utils.precision`; the choice is logged). The
                weights, and so `model_fingerprint`, do not depend on it.

        Raises:
            CheckpointNotFoundError: the folder or preset cannot be found, with
                the command that installs the default model.
            ValueError: `dtype` is not one of the values above.
        """
        dtype = _resolve_dtype(dtype)
        path = resolve_checkpoint(model)
        if (path / ENCODER_CONFIG_FILE).is_file():
            return cls._from_tfsearch_directory(path, sequence_length, dtype)
        missing = [name for name in ("config.json", "vocab.txt", "model.safetensors") if not (path / name).is_file()]
        if missing:
            raise CheckpointNotFoundError(
                f"{path} is not a BERT checkpoint folder: missing {', '.join(missing)} "
                f"(or {ENCODER_CONFIG_FILE} for a tfsearch model)."
            )
        st_config = _read_json(path / "sentence_bert_config.json")
        pooling_config = _read_json(path / "1_Pooling" / "config.json")
        tokenizer_config = _read_json(path / "tokenizer_config.json")
        if sequence_length is None:
            sequence_length = st_config.get("max_seq_length", 256)
        if pooling is None:
            pooling = "cls" if pooling_config.get("pooling_mode_cls_token") else "mean"
        tokenizer = WordPieceTokenizer(
            read_vocabulary(path / "vocab.txt"),
            sequence_length=sequence_length,
            lowercase=tokenizer_config.get("do_lower_case", True),
            name="tokenizer",
        )
        backbone = BertBackbone.from_checkpoint(path, name="backbone", **({"dtype": dtype} if dtype else {}))
        encoder = cls(backbone, tokenizer, pooling=pooling, projection_dim=projection_dim, normalize=normalize)
        encoder._ensure_built()
        return encoder

    @classmethod
    def _from_tfsearch_directory(cls, path, sequence_length=None, dtype=None):
        config = read_metadata(path, ENCODER_CONFIG_FILE, "encoder")
        tokenizer_config = config["tokenizer"]["config"]
        tokenizer_config["vocabulary"] = read_vocabulary(path / tokenizer_config["vocabulary"])
        if sequence_length is not None:
            tokenizer_config["sequence_length"] = int(sequence_length)
        if dtype is not None:
            config["backbone"]["config"]["dtype"] = dtype
        encoder = cls.from_config(config)
        encoder._ensure_built()
        read_weights(path, encoder=encoder)
        return encoder


def _resolve_dtype(dtype):
    """`from_pretrained`'s `dtype` as a Keras policy name, or None for "as saved"."""
    from tfsearch.utils.precision import AUTO, resolve_precision

    if dtype is None or dtype == "float32":
        return dtype
    policy, _ = resolve_precision(dtype, argument="dtype")
    # "auto" that picks float32 must give float32 even for a folder saved in bfloat16.
    return "float32" if policy is None and dtype == AUTO else policy


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
