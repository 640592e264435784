"""The BERT backbone: the only module of tfsearch that knows `transformers`.

Moving to another backbone library means rewriting this file alone: the rest
of tfsearch sees a Keras layer that maps `token_ids` and `padding_mask` to
per-token hidden states, configured with library-neutral argument names.
"""

import contextlib
import json
import os
import pathlib

import tensorflow as tf

# Hugging Face `config.json` key -> BertBackbone argument.
_HF_CONFIG_KEYS = {
    "vocab_size": "vocabulary_size",
    "hidden_size": "hidden_dim",
    "num_hidden_layers": "num_layers",
    "num_attention_heads": "num_heads",
    "intermediate_size": "intermediate_dim",
    "max_position_embeddings": "max_sequence_length",
    "type_vocab_size": "type_vocabulary_size",
    "hidden_act": "activation",
    "layer_norm_eps": "layer_norm_epsilon",
    "hidden_dropout_prob": "dropout",
    "attention_probs_dropout_prob": "attention_dropout",
    "initializer_range": "initializer_range",
}


@contextlib.contextmanager
def _global_dtype_policy(policy):
    """Builds `transformers` layers under `policy`: they read the global policy."""
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def _activations_in_float32(bert_model):
    """Runs each layer's feed-forward activation in float32 under mixed precision.

    The exact GELU is built on `erf`, which TensorFlow evaluates one element at
    a time for bfloat16 on CPU: it took a quarter of the encoder's time. In
    float32 it is vectorised and more accurate; the matrix products around it
    stay in bfloat16.
    """
    for layer in bert_model.bert.encoder.layer:
        intermediate = layer.intermediate
        activation = intermediate.intermediate_act_fn

        def in_float32(x, activation=activation):
            return tf.cast(activation(tf.cast(x, tf.float32)), x.dtype)

        intermediate.intermediate_act_fn = in_float32


def _transformers():
    try:
        import transformers
    except ImportError as e:  # pragma: no cover - install-time problem
        raise ImportError(
            "tfsearch's BERT backbone needs `transformers>=4.57,<5` (version 5 removed the "
            "TensorFlow models): pip install 'transformers>=4.57,<5'"
        ) from e
    if int(transformers.__version__.split(".")[0]) >= 5:
        raise ImportError(
            f"transformers {transformers.__version__} has no TensorFlow models; "
            "install 'transformers>=4.57,<5'."
        )
    return transformers


@tf.keras.utils.register_keras_serializable(package="tfsearch")
class BertBackbone(tf.keras.layers.Layer):
    """A BERT encoder stack (`transformers.TFBertModel`) as a Keras layer.

    Args:
        vocabulary_size: int. Size of the token vocabulary.
        hidden_dim: int. Width of the hidden states.
        num_layers: int. Number of transformer layers.
        num_heads: int. Attention heads per layer.
        intermediate_dim: int. Width of the feed-forward layers.
        max_sequence_length: int. Number of position embeddings.
        type_vocabulary_size: int. Number of segment (token type) embeddings.
        activation: str. Feed-forward activation (`"gelu"`).
        layer_norm_epsilon: float. Epsilon of the layer normalisations.
        dropout: float. Dropout of the hidden states (training only).
        attention_dropout: float. Dropout of the attention probabilities.
        initializer_range: float. Standard deviation of the initialiser.
        **kwargs: standard `tf.keras.layers.Layer` arguments. `dtype` may be a
            mixed precision policy such as `"mixed_bfloat16"`: variables stay
            float32, the computation runs in bfloat16 (faster on CPUs with
            AVX512-BF16 and on TPUs and recent GPUs).

    Call arguments:
        token_ids: int tensor `[batch, seq]`.
        padding_mask: bool or int tensor `[batch, seq]`, true on real tokens.

    Returns:
        float tensor `[batch, seq, hidden_dim]`: the last layer's hidden states.

    Example:
    ```python
    backbone = BertBackbone(vocabulary_size=100, hidden_dim=8, num_layers=1,
                            num_heads=2, intermediate_dim=16)
    states = backbone(tf.constant([[2, 5, 3]]), tf.constant([[True, True, True]]))
    # states.shape == [1, 3, 8]
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        max_sequence_length=512,
        type_vocabulary_size=2,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        dropout=0.1,
        attention_dropout=0.1,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)

        # === Config ===
        self.vocabulary_size = int(vocabulary_size)
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.max_sequence_length = int(max_sequence_length)
        self.type_vocabulary_size = int(type_vocabulary_size)
        self.activation = activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.initializer_range = float(initializer_range)

        # === Layers ===
        transformers = _transformers()
        hf_config = transformers.BertConfig(
            **{theirs: getattr(self, ours) for theirs, ours in _HF_CONFIG_KEYS.items()}
        )
        with _global_dtype_policy(self.dtype_policy):
            self.bert = transformers.TFBertModel(hf_config, name="bert_model")
            # Build now, outside any enclosing name scope, so that weight names
            # are the ones the checkpoint converter expects.
            self.bert.build()
        if self.compute_dtype != "float32":
            _activations_in_float32(self.bert)
        # The pooler (a dense layer on [CLS]) is not used by tfsearch's pooling;
        # freezing it avoids "gradients do not exist" warnings in training.
        self.bert.bert.pooler.trainable = False

    def call(self, token_ids, padding_mask, training=False):
        mask = tf.cast(padding_mask, tf.int32)
        outputs = self.bert(
            input_ids=token_ids,
            attention_mask=mask,
            token_type_ids=tf.zeros_like(mask),
            training=training,
            return_dict=True,
        )
        return outputs.last_hidden_state

    def load_checkpoint_weights(self, weights_path):
        """Loads a Hugging Face BERT `model.safetensors` file, without torch.

        Raises:
            ValueError: when a weight of this backbone is missing from the file
                or has another shape.
        """
        from safetensors.numpy import load_file
        from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

        state_dict = load_file(os.fspath(weights_path))
        try:
            _, info = load_pytorch_state_dict_in_tf2_model(
                self.bert,
                state_dict,
                allow_missing_keys=True,
                output_loading_info=True,
                skip_logger_warnings=True,
            )
        except (tf.errors.InvalidArgumentError, ValueError) as e:
            raise ValueError(
                f"{weights_path} does not match the backbone configuration (a weight has another shape): {e}"
            ) from e
        missing = [name for name in info["missing_keys"] if "pooler" not in name]
        if missing:
            raise ValueError(
                f"{weights_path} does not match the backbone configuration: missing weights {missing[:5]}."
            )

    @classmethod
    def from_checkpoint_config(cls, config_path, **kwargs):
        """Builds a backbone from a Hugging Face BERT `config.json` (random weights)."""
        with open(config_path, encoding="utf-8") as f:
            hf_config = json.load(f)
        model_type = hf_config.get("model_type", "bert")
        if model_type != "bert":
            raise ValueError(f"{config_path} describes a {model_type!r} model; tfsearch supports BERT checkpoints.")
        args = {ours: hf_config[theirs] for theirs, ours in _HF_CONFIG_KEYS.items() if theirs in hf_config}
        args.update(kwargs)
        return cls(**args)

    @classmethod
    def from_checkpoint(cls, checkpoint_dir, **kwargs):
        """Builds a backbone from a Hugging Face BERT folder and loads its weights.

        Args:
            checkpoint_dir: folder with `config.json` and `model.safetensors`.
        """
        checkpoint_dir = pathlib.Path(checkpoint_dir)
        backbone = cls.from_checkpoint_config(checkpoint_dir / "config.json", **kwargs)
        backbone.load_checkpoint_weights(checkpoint_dir / "model.safetensors")
        return backbone

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in _HF_CONFIG_KEYS.values()})
        return config
