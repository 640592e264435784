"""The signatures of tiny exports, as plain data, for `test_signatures_unchanged.py`.

`expected_signatures.json` was produced by the code before issue 15's
restructuring (a pristine checkout at /work/base), with:

    cd /work/base && /work/main/.venv/bin/python -c "import runpy, sys; sys.argv = ['capture', \
        '/work/main/tests/export/expected_signatures.json']; \
        runpy.run_path('/work/main/tests/export/signature_capture.py', run_name='__main__')"

(the current folder comes first on `sys.path`, so `tfsearch` and `tests.conftest`
are the checkout's). Regenerate it the same way from the current tree only when
a signature is meant to change.
"""

import json
import pathlib
import sys
import tempfile

DOCS = ["the cat sat on the mat", "a dog is eating food", "a piece of bread", "tensor flow search",
        "hello world", "the man is eating bread", "cat and dog", "naive cafe food"]
# ScaNN's asymmetric hashing trains 16 centres per block: it needs more documents than DOCS.
SCANN_DOCS = [f"{a} {b}" for a in DOCS for b in ("cat", "dog", "bread", "world", "search")]
FLAVOURS = ("brute_force", "int8", "scann")


def describe_signatures(version_dir):
    """`{signature: {"method_name", "inputs", "outputs", "defaults"}}` of a SavedModel folder.

    Inputs and outputs map each name to its dtype and shape (`None` for an
    unknown dimension); defaults map each input with a SignatureDef default
    to its dtype and value. Internal tensor names are left out: they are not
    part of the serving API.

    Args:
        version_dir: a folder holding `saved_model.pb`.

    Returns:
        A JSON-serialisable dict.

    Example:
    ```python
    describe_signatures("saved_models/scifact/1")["search"]["inputs"]["k"]
    # {"dtype": "int32", "shape": []}
    ```
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(version_dir) / "saved_model.pb").read_bytes())

    def tensor(info):
        shape = None if info.tensor_shape.unknown_rank else [
            None if d.size < 0 else d.size for d in info.tensor_shape.dim]
        return {"dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": shape}

    return {
        name: {
            "method_name": signature.method_name,
            "inputs": {key: tensor(info) for key, info in sorted(signature.inputs.items())},
            "outputs": {key: tensor(info) for key, info in sorted(signature.outputs.items())},
            "defaults": {key: {"dtype": tf.dtypes.as_dtype(value.dtype).name, "value": tf.make_ndarray(value).item()}
                         for key, value in sorted(signature.defaults.items())},
        }
        for name, signature in sorted(proto.meta_graphs[0].signature_def.items())
        if not name.startswith("__")  # `__saved_model_init_op`: TensorFlow's, not a serving signature
    }


def build_exports(base_path, flavours=FLAVOURS):
    """`{flavour: version_dir}`: tiny exports (random tiny encoder, a few documents) under `base_path`.

    Uses only `export_search_model`'s long-standing arguments, so that the
    same code runs against older checkouts.
    """
    import tensorflow as tf

    from tests.conftest import make_tiny_encoder
    from tfsearch.export import export_search_model
    from tfsearch.index import BruteForceIndex

    encoder = make_tiny_encoder()
    base_path = pathlib.Path(base_path)
    exports = {}
    for flavour in flavours:
        if flavour == "scann":
            from tfsearch.index.scann_index import ScannIndex
            from tfsearch.index.scann_tuning import ScannParams

            embeddings = encoder(tf.constant(SCANN_DOCS)).numpy()
            params = ScannParams(num_leaves=2, num_leaves_to_search=2, num_reordering_candidates=40)
            index = ScannIndex(k=3, params=params).index(embeddings, [f"x{i}" for i in range(len(SCANN_DOCS))])
            exports[flavour], _ = export_search_model(encoder, index, base_path / flavour,
                                                      document_embeddings=embeddings, num_candidates=6, max_k=5)
        elif flavour == "int8":  # max_k over 10: the default k is 10
            embeddings = encoder(tf.constant(SCANN_DOCS)).numpy()
            index = BruteForceIndex(k=3, quantization="int8").index(embeddings,
                                                                     [f"x{i}" for i in range(len(SCANN_DOCS))])
            exports[flavour], _ = export_search_model(encoder, index, base_path / flavour, num_candidates=40,
                                                      max_k=30)
        else:  # max_k under 10: the default k is max_k
            embeddings = encoder(tf.constant(DOCS)).numpy()
            index = BruteForceIndex(k=3).index(embeddings, [f"d{i}" for i in range(len(DOCS))])
            exports[flavour], _ = export_search_model(encoder, index, base_path / flavour, num_candidates=6, max_k=5)
    return exports


def main(output):
    import tests.conftest  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
    import tfsearch

    print(f"tfsearch from {tfsearch.__file__}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        described = {flavour: describe_signatures(path) for flavour, path in build_exports(folder).items()}
    pathlib.Path(output).write_text(json.dumps(described, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
