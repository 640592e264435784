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

    For activations that `_use_fused_kernels` cannot fold into the matrix
    product (anything but the exact GELU). TensorFlow evaluates `erf`-based
    activations one element at a time for bfloat16 on CPU (a quarter of the
    encoder's time); in float32 they are vectorised and more accurate, and
    the matrix products around them stay in bfloat16.
    """
    for layer in bert_model.bert.encoder.layer:
        intermediate = layer.intermediate
        activation = intermediate.intermediate_act_fn

        def in_float32(x, activation=activation):
            return tf.cast(activation(tf.cast(x, tf.float32)), x.dtype)

        intermediate.intermediate_act_fn = in_float32


def _gelu_exact(x):
    """The exact GELU, 0.5 x (1 + erf(x / sqrt(2))), in the form grappler fuses into a matrix product.

    `keras.activations.gelu` computes the same function through `erfc`, which
    grappler's remapper does not recognise; written with `erf`, the product,
    bias and activation become one oneDNN `_FusedMatMul` (`GeluExact`).
    """
    return 0.5 * x * (1.0 + tf.math.erf(x * 0.7071067811865476))


class _TokenwiseDense(tf.keras.layers.Dense):
    """A `Dense` layer that multiplies a `[batch, seq, in]` input as `[batch * seq, in]`.

    Keras multiplies a 3-D input through `tensordot` and adds the bias after
    reshaping back, which hides `MatMul + BiasAdd (+ activation)` from
    grappler's remapper. On the 2-D form the bias, and `fused_activation`
    when it is `_gelu_exact`, run inside the matrix product's oneDNN kernel.
    Same weights, same result up to rounding. `_use_fused_kernels` gives the
    Hugging Face model's `Dense` layers this class.
    """

    fused_activation = None

    def call(self, inputs):
        shape = tf.shape(inputs)
        outputs = tf.nn.bias_add(tf.matmul(tf.reshape(inputs, [-1, self.kernel.shape[0]]), self.kernel), self.bias)
        if self.fused_activation is not None:
            outputs = self.fused_activation(outputs)
        outputs = tf.reshape(outputs, tf.concat([shape[:-1], [self.units]], axis=0))
        outputs.set_shape(inputs.shape[:-1].concatenate([self.units]))
        return outputs


class _TokenwiseGeluDense(_TokenwiseDense):
    """`_TokenwiseDense` followed by the exact GELU, fused into the product."""

    fused_activation = staticmethod(_gelu_exact)


def _unit_activation(x):
    """The feed-forward activation once `_TokenwiseGeluDense` has applied it."""
    return x


def _self_attention_call(layer, hidden_states, attention_mask, head_mask, encoder_hidden_states,
                         encoder_attention_mask, past_key_value, output_attentions, training=False):
    """`TFBertSelfAttention.call` without one pass over the attention scores.

    Hugging Face's encoder computes `softmax(QK^T / sqrt(d) + mask + 1e-9)`.
    The constant (a workaround in `transformers.tf_utils.stable_softmax`) does
    not change a softmax, but adding it is one more element-wise pass over the
    `[batch, heads, seq, seq]` scores, the largest tensor of the layer. This
    computes the same attention without it, and scales the queries instead of
    the scores (bfloat16 element-wise passes are slow on CPU). Anything an
    encoder does not use (decoder caches, head masks, returned attentions)
    goes to the original.
    """
    if (layer.is_decoder or head_mask is not None or encoder_hidden_states is not None
            or past_key_value is not None or output_attentions):
        return super(type(layer), layer).call(hidden_states, attention_mask, head_mask, encoder_hidden_states,
                                              encoder_attention_mask, past_key_value, output_attentions,
                                              training=training)
    batch_size, seq_length = tf.shape(hidden_states)[0], tf.shape(hidden_states)[1]

    def by_head(x):  # [batch, seq, all_head_size] -> [batch, heads, seq, head_size]
        # The sequence length is given, not -1: a reshape cannot infer it for a batch of no rows, and in a
        # graph it came out 1 for the values and 2 for the keys of an empty batch.
        x = tf.reshape(x, (batch_size, seq_length, layer.num_attention_heads, layer.attention_head_size))
        return tf.transpose(x, perm=[0, 2, 1, 3])

    # Scaling the queries by 1 / sqrt(head size), rather than the scores, touches
    # head_size values per token and head instead of seq.
    query = layer.query(hidden_states)
    query = by_head(query * tf.constant(1.0 / layer.sqrt_att_head_size, query.dtype))
    key, value = by_head(layer.key(hidden_states)), by_head(layer.value(hidden_states))
    scores = tf.matmul(query, key, transpose_b=True)
    if attention_mask is not None:
        scores = tf.add(scores, attention_mask)
    probabilities = layer.dropout(tf.nn.softmax(scores, axis=-1), training=training)
    context = tf.transpose(tf.matmul(probabilities, value), perm=[0, 2, 1, 3])
    return (tf.reshape(context, (batch_size, seq_length, layer.all_head_size)),)


# transformers' TFBertSelfAttention -> its subclass calling `_self_attention_call`, made once.
_FUSED_ATTENTION_CLASSES = {}


def _fused_attention_class(cls):
    """A subclass of `cls` whose `call` is `_self_attention_call` (a SavedModel needs a real method)."""
    if cls not in _FUSED_ATTENTION_CLASSES:
        _FUSED_ATTENTION_CLASSES[cls] = type("Fused" + cls.__name__, (cls,), {"call": _self_attention_call})
    return _FUSED_ATTENTION_CLASSES[cls]


def _use_fused_kernels(bert_model, fuse_gelu):
    """Lets grappler fuse each layer's matrix products with their bias and GELU.

    On CPU with oneDNN this removes most of the element-wise passes between
    the matrix products, which matter most in bfloat16, where TensorFlow's
    element-wise kernels are slow (docs/benchmarks.md, "Encoding speed").
    Layers change class (to subclasses whose `call` computes the same thing),
    not weights: variable names and the checkpoint format are unchanged.

    Args:
        bert_model: a built `transformers.TFBertModel`.
        fuse_gelu: bool. The feed-forward activation is the exact GELU, so it
            can run inside the first feed-forward product.
    """
    for layer in bert_model.bert.encoder.layer:
        attention = layer.attention.self_attention
        denses = (attention.query, attention.key, attention.value, layer.attention.dense_output.dense,
                  layer.bert_output.dense, layer.intermediate.dense)
        if not all(d.use_bias and d.activation is tf.keras.activations.linear for d in denses):
            continue  # not the BERT layer this was written for: leave it as transformers made it
        for dense in denses:
            dense.__class__ = _TokenwiseDense
        attention.__class__ = _fused_attention_class(type(attention))
        if fuse_gelu:
            layer.intermediate.dense.__class__ = _TokenwiseGeluDense
            layer.intermediate.intermediate_act_fn = _unit_activation


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
        fuse_gelu = self.activation == "gelu"  # the exact GELU, which oneDNN can run inside the product
        _use_fused_kernels(self.bert, fuse_gelu=fuse_gelu)
        if self.compute_dtype != "float32" and not fuse_gelu:
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
