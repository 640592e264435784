"""TensorProtos to and from NumPy for the gRPC front end, without `tf.make_tensor_proto`'s per-call cost.

`tf.make_tensor_proto` and `tf.make_ndarray` handle every dtype and every
way a TensorProto may hold its values; for the few a search request and its
answer use, building the proto directly costs a fifth or less: a one-query
search's three outputs 8.6 against 45 microseconds, its three inputs 3.8
against 30 (`python bench/tensor_protos.py` on the 2-core EPYC of
`docs/benchmarks.md`), a share of what the gRPC front end adds per request
over the REST one. Anything else goes through TensorFlow's functions, so
the result is always theirs.
"""

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

# The dtypes read from their repeated value field (a request's `queries`, `k`, `diversity`).
_VALUE_FIELDS = {tf.string: "string_val", tf.int32: "int_val", tf.int64: "int64_val", tf.float32: "float_val",
                 tf.float64: "double_val", tf.bool: "bool_val"}
# The NumPy dtypes written as raw bytes in `tensor_content` (a search's `scores` and `positions`), as
# `tf.make_tensor_proto` writes them.
_CONTENT_DTYPES = {np.dtype(np.float32): tf.float32, np.dtype(np.int32): tf.int32, np.dtype(np.int64): tf.int64,
                   np.dtype(np.float64): tf.float64}


def flat_values(proto, dtype, count):
    """The `count` values of a TensorProto of `dtype`, flat, as Python values (strings as `bytes`).

    The same values as `tf.make_ndarray(proto).reshape(-1).tolist()`, read
    from the repeated value field when it holds all `count` of them (how
    `tf.make_tensor_proto` writes strings and scalars); otherwise through
    `tf.make_ndarray` (`tensor_content`, one value standing for all).

    Args:
        proto: a `tensorflow.TensorProto` whose `dtype` is `dtype`.
        dtype: `tf.DType`, the proto's.
        count: int, the number of elements its shape gives.

    Returns:
        A list of `count` values.

    Example:
    ```python
    flat_values(tf.make_tensor_proto(["a", "b"]), tf.string, 2)  # [b"a", b"b"]
    ```
    """
    field = _VALUE_FIELDS.get(dtype)
    if field is not None and not proto.tensor_content:
        values = getattr(proto, field)
        if len(values) == count:  # float_val's Python floats are its float32 values exactly
            return list(values)
    return tf.make_ndarray(proto).reshape(-1).tolist()


def to_tensor_proto(array):
    """A NumPy array as a TensorProto, equal to `tf.make_tensor_proto(array)`.

    Strings (an object array of `bytes`) go in `string_val`; float32,
    float64, int32 and int64 arrays of more than one value as raw bytes in
    `tensor_content`, as TensorFlow writes them; anything else through
    `tf.make_tensor_proto`.

    Args:
        array: `np.ndarray`.

    Returns:
        A `tensorflow.TensorProto`.

    Example:
    ```python
    to_tensor_proto(np.array([[b"d1", b"d2"]], object)) == tf.make_tensor_proto([[b"d1", b"d2"]])  # True
    ```
    """
    array = np.asarray(array)
    if array.dtype == object and all(isinstance(value, bytes) for value in array.flat):
        dtype, values = tf.string, array.reshape(-1).tolist()
    elif array.dtype in _CONTENT_DTYPES and array.dtype.byteorder in "=|" and array.size > 1:
        dtype, values = _CONTENT_DTYPES[array.dtype], None
    else:
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum)
    for n in array.shape:
        proto.tensor_shape.dim.add(size=n)
    if values is not None:
        proto.string_val.extend(values)
    else:
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    return proto
