"""`to_tensor_proto` and `flat_values` against TensorFlow's `tf.make_tensor_proto` / `tf.make_ndarray`."""

import numpy as np
import pytest
import tensorflow as tf

from tfsearch.serving.tensor_protos import flat_values, to_tensor_proto

ARRAYS = {
    # A search's outputs: ids [n, k] (bytes), scores float32, positions int32.
    "ids": np.array([[b"d1", b"d22", b""], [b"\xc3\xa9t\xc3\xa9", b"x", b""]], object),
    "scores": np.array([[0.5, -0.25, -np.inf], [1.0, 0.0, -np.inf]], np.float32),
    "positions": np.array([[3, 0, -1], [7, 2, -1]], np.int32),
    "int64": np.arange(6, dtype=np.int64).reshape(3, 2),
    "float64": np.array([0.1, 0.2], np.float64),
    # Through tf.make_tensor_proto: one value (TensorFlow writes it in a value field), an empty array,
    # a dtype with no fast path, a non-native byte order, a non-contiguous view.
    "one_score": np.array([[0.3]], np.float32),
    "empty_scores": np.zeros((0, 10), np.float32),
    "empty_ids": np.zeros((0, 10), object),
    "float16": np.array([1.5, 2.5], np.float16),
    "big_endian": np.array([1.0, 2.0], ">f4"),
    "transposed": np.arange(6, dtype=np.float32).reshape(2, 3).T,
}


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_to_tensor_proto_is_tensorflows(name):
    array = ARRAYS[name]
    proto = to_tensor_proto(array)
    assert proto == tf.make_tensor_proto(array)
    if name != "big_endian":  # TensorFlow writes its bytes as they are, and reads them back wrong: as it does
        np.testing.assert_array_equal(tf.make_ndarray(proto), array)


# A request's inputs as clients write them (tf.make_tensor_proto): queries [batch] or a scalar, k and
# diversity scalars or [batch].
INPUTS = [
    (["covid vaccines", "bread"], tf.string),
    ("one query", tf.string),
    ([""], tf.string),
    (10, tf.int32),
    ([10, 3, 1], tf.int32),
    (0.3, tf.float32),  # float_val holds the float32 nearest 0.3: read back as that, not 0.3
    ([0.0, 1.0, 0.7], tf.float32),
    ([1, 2], tf.int64),
    ([True, False], tf.bool),
    ([0.1], tf.float64),
]


@pytest.mark.parametrize("value, dtype", INPUTS)
def test_flat_values_are_make_ndarrays(value, dtype):
    proto = tf.make_tensor_proto(value, dtype=dtype)
    count = int(np.prod([d.size for d in proto.tensor_shape.dim]))
    assert flat_values(proto, dtype, count) == tf.make_ndarray(proto).reshape(-1).tolist()


def test_flat_values_of_tensor_content_and_of_one_value_for_all():
    # tensor_content: 3 float32 values as raw bytes (a client that packs them as TensorFlow does for arrays).
    packed = tf.make_tensor_proto(np.array([0.5, 0.25, 1.0], np.float32))
    assert packed.tensor_content and flat_values(packed, tf.float32, 3) == [0.5, 0.25, 1.0]
    # Shape [3] with one value in int_val: TensorFlow repeats it for every element.
    repeated = tf.make_tensor_proto(7, dtype=tf.int32, shape=[3])
    assert len(repeated.int_val) == 1 and flat_values(repeated, tf.int32, 3) == [7, 7, 7]
