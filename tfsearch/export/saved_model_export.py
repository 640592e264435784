"""Versioned SavedModel exports in TensorFlow Serving's layout, written atomically and audited."""

import datetime
import json
import os
import pathlib
import shutil
import uuid

import tensorflow as tf

from tfsearch.export.op_audit import audit_ops, check_audit, saved_model_ops
from tfsearch.export.search_module import DEFAULT_DIVERSITY, DEFAULT_MAX_K, DEFAULT_NUM_CANDIDATES, SearchModule

EXPORT_INFO_FILE = "tfsearch_export.json"
WARMUP_FILE = "tf_serving_warmup_requests"
TITLES_FILE = "titles.json"
BATCHING_PARAMETERS_FILE = "batching_params.pbtxt"
_TEMPORARY_PREFIX = ".tmp-"

# TensorFlow Serving's server-side batching of `search_batchable`
# (`--enable_batching --enable_per_model_batching_parameters` reads them from
# each version folder). Chosen by `python bench/batching.py` (result:
# `bench/results/batching.json`): the pretrained encoder, the demo corpus,
# k 10, diversity 0.3, on 2 Intel Xeon cores (AVX-512, AMX).
# `max_batch_size`: the batch with the most queries/s among those whose
# median latency stays within 100 ms (16: 311 queries/s at 47 ms; 32 and 64
# took 155 and 281 ms for fewer queries/s); `allowed_batch_sizes`: the
# powers of two up to it (a batch is padded to the next one, so the graph
# sees few shapes); `batch_timeout_micros`: half a single query's median
# latency (22 ms), so that a query never waits for company longer than half
# its own cost; `num_batch_threads`: the cores.
DEFAULT_BATCHING_PARAMETERS = {
    "max_batch_size": 16,
    "batch_timeout_micros": 11000,
    "num_batch_threads": 2,
    "max_enqueued_batches": 100,
    "allowed_batch_sizes": (1, 2, 4, 8, 16),
}
WARMUP_SIGNATURES = ("serving_default", "search_batchable")
_BATCHING_FIELDS = ("max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches")


def versions(base_path):
    """The integer version folders of a model base path, ascending (temporary folders are ignored)."""
    base = pathlib.Path(base_path)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def signature_defaults(export_dir):
    """`{signature: {input: value}}`: the default input values stored in a SavedModel's SignatureDefs.

    TensorFlow Serving fills an input missing from a request with its default
    (`SignatureDef.defaults`); `tf.saved_model.load`'s signature functions do
    not, so `tfsearch serve` reads them here.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(export_dir) / "saved_model.pb").read_bytes())
    return {name: {alias: tf.make_ndarray(value).item() for alias, value in signature.defaults.items()}
            for name, signature in proto.meta_graphs[0].signature_def.items() if signature.defaults}


def batching_parameters_text(parameters=None):
    """TensorFlow Serving's `BatchingParameters` text proto (`batching_params.pbtxt`).

    Args:
        parameters: optional dict overriding `DEFAULT_BATCHING_PARAMETERS`:
            positive ints `max_batch_size`, `batch_timeout_micros` (>= 0),
            `num_batch_threads`, `max_enqueued_batches`, and
            `allowed_batch_sizes`, increasing positive ints whose last is
            `max_batch_size` (TensorFlow Serving's rule; empty: any size).

    Returns:
        str.

    Example:
    ```python
    print(batching_parameters_text({"max_batch_size": 8, "allowed_batch_sizes": (4, 8)}))
    # max_batch_size { value: 8 }
    # batch_timeout_micros { value: 5000 }
    # ...
    # allowed_batch_sizes: 4
    # allowed_batch_sizes: 8
    ```
    """
    parameters = {**DEFAULT_BATCHING_PARAMETERS, **(parameters or {})}
    unknown = sorted(set(parameters) - set(DEFAULT_BATCHING_PARAMETERS))
    if unknown:
        raise ValueError(f"`batching_parameters` takes {sorted(DEFAULT_BATCHING_PARAMETERS)}, got {unknown}.")
    for name in _BATCHING_FIELDS:
        value, least = parameters[name], 0 if name == "batch_timeout_micros" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"`{name}` must be an integer >= {least}, got {value!r}.")
    sizes = list(parameters["allowed_batch_sizes"] or ())
    if sizes and (any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes)
                  or sizes != sorted(set(sizes)) or sizes[-1] != parameters["max_batch_size"]):
        raise ValueError(f"`allowed_batch_sizes` must be increasing positive integers ending at `max_batch_size` "
                         f"({parameters['max_batch_size']}), got {sizes!r}.")
    lines = [f"{name} {{ value: {parameters[name]} }}" for name in _BATCHING_FIELDS]
    lines += [f"allowed_batch_sizes: {n}" for n in sizes]
    return "\n".join(lines) + "\n"


def export_search_model(query_encoder, index, base_path, document_encoder=None, document_embeddings=None,
                        method="mmr", num_candidates=DEFAULT_NUM_CANDIDATES, max_k=DEFAULT_MAX_K,
                        warmup_queries=("example query",),
                        metadata=None, titles=None, prf_documents=0, prf_beta=0.5, batching_parameters=None,
                        warmup_signature="serving_default"):
    """Writes the next version of a search model under `base_path` (`base_path/<version>/`).

    The SavedModel has the signatures of `SearchModule` (`serving_default` =
    `search`, `encode_query`, `encode_document`, `search_embeddings`,
    `search_batchable`); it is written to a hidden temporary folder beside
    the versions, its ops are audited against the flavour's runtime (stock
    TensorFlow Serving for `brute_force`, one with ScaNN's ops for `scann`),
    warm-up requests and `batching_params.pbtxt` (TensorFlow Serving's
    per-model batching parameters) are added, and only then is the folder
    renamed to its version number: a server watching `base_path` never sees
    a partial version.

    Args:
        query_encoder, document_encoder: `BertEncoder`s (the document one
            defaults to the query one).
        index: built `BruteForceIndex` or `ScannIndex` (of a loaded one:
            `tfsearch.index.exportable_index`).
        base_path: the model's folder (TensorFlow Serving's `--model_base_path`).
        document_embeddings: ignored, kept for older callers: the index
            provides its rows.
        method, num_candidates, max_k: see `SearchModule` (defaults
            `DEFAULT_NUM_CANDIDATES`, `DEFAULT_MAX_K`).
        prf_documents, prf_beta: in-graph pseudo-relevance feedback (see
            `SearchModule`): `search` retrieves each query's top
            `prf_documents`, expands the query with them and searches again
            before re-ranking; 0 (the default) exports plain search.
        warmup_queries: texts of the warm-up requests (`assets.extra`).
        warmup_signature: `"serving_default"` (the default) or
            `"search_batchable"`: the signature the warm-up requests call.
            A server started with `--enable_batching` batches every
            signature and refuses the scalar `k` of `serving_default`; a
            failed warm-up request fails the version's load, so exports
            meant for a batching server take `"search_batchable"`.
        metadata: JSON-serialisable dict stored in `tfsearch_export.json`
            (under `metadata`; beside it the export's settings, among them
            `max_k` and `defaults`, the `k` and `diversity` a request may
            leave out, which `tfsearch serve` reads).
        titles: optional `{doc_id: title}` written to `assets.extra/titles.json`
            for `tfsearch serve` (TensorFlow Serving ignores it).
        batching_parameters: optional dict overriding
            `DEFAULT_BATCHING_PARAMETERS` in the version's
            `batching_params.pbtxt` (see `batching_parameters_text`).

    Returns:
        `(version_dir, audit)`.

    Raises:
        ExportAuditError: the graph holds ops outside the flavour's runtime.
    """
    document_encoder = document_encoder or query_encoder
    del document_embeddings  # the index provides its rows
    batching_text = batching_parameters_text(batching_parameters)  # a bad setting fails before any work
    if warmup_signature not in WARMUP_SIGNATURES:
        raise ValueError(f"`warmup_signature` must be one of {WARMUP_SIGNATURES}, got {warmup_signature!r}.")
    module = SearchModule(query_encoder, document_encoder, index, method=method, num_candidates=num_candidates,
                          max_k=max_k, prf_documents=prf_documents, prf_beta=prf_beta)
    flavour = module.backend
    base = pathlib.Path(base_path)
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f"{_TEMPORARY_PREFIX}{uuid.uuid4().hex}"
    try:
        options = tf.saved_model.SaveOptions(namespace_whitelist=["Scann"] if flavour == "scann" else None)
        tf.saved_model.save(module, str(tmp), signatures=module.signatures(), options=options)
        audit = audit_ops(saved_model_ops(tmp), flavour)
        (tmp / "assets.extra").mkdir(exist_ok=True)
        (tmp / "assets.extra" / "op_audit.json").write_text(json.dumps(audit, indent=2) + "\n")
        check_audit(audit)
        write_warmup_requests(tmp / "assets.extra" / WARMUP_FILE, list(warmup_queries), module.default_k,
                              module.default_diversity, signature=warmup_signature)
        (tmp / BATCHING_PARAMETERS_FILE).write_text(batching_text)
        if titles:
            (tmp / "assets.extra" / TITLES_FILE).write_text(json.dumps(titles, ensure_ascii=False))
        info = {
            "flavour": flavour,
            "serving": ("stock TensorFlow Serving (TensorFlow + TensorFlow Text ops)" if flavour == "brute_force"
                        else "TensorFlow Serving built with ScaNN's ops (stock TensorFlow Serving cannot load it)"),
            "signatures": sorted(module.signatures()),
            "method": method, "num_candidates": module.num_candidates, "max_k": module.max_k,
            "defaults": {"k": module.default_k, "diversity": module.default_diversity},
            "prf_documents": module.prf_documents, "prf_beta": module.prf_beta if module.prf_documents else None,
            "num_documents": index.num_documents, "embedding_dim": query_encoder.embedding_dim,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "metadata": metadata or {},
        }
        (tmp / EXPORT_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        version = _publish(tmp, base)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return base / str(version), audit


def _publish(tmp, base):
    """Renames `tmp` to the next free version number (another exporter may take one first)."""
    for _ in range(100):
        version = (versions(base) or [0])[-1] + 1
        try:
            os.rename(tmp, base / str(version))  # fails if the folder exists and is not empty
            return version
        except OSError:
            if not (base / str(version)).exists():
                raise
    raise RuntimeError(f"Could not find a free version number under {base}.")


def write_warmup_requests(path, queries, k, diversity=DEFAULT_DIVERSITY, signature="serving_default"):
    """TensorFlow Serving warm-up records: one `PredictionLog` per query for `signature`.

    Uses the `tensorflow-serving-api` protos; TensorFlow Serving replays the
    file at `assets.extra/tf_serving_warmup_requests` when it loads the version.

    Args:
        path: the file to write.
        queries: list of str, one request each.
        k: int. The `k` of every request (the export's default `k`).
        diversity: float. The `diversity` of every request.
        signature: `"serving_default"` (scalar `k` and `diversity`) or
            `"search_batchable"` (one-element `[1]` `k` and `diversity`).
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    with tf.io.TFRecordWriter(str(path)) as writer:
        for query in queries:
            per_query = signature == "search_batchable"
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=signature))
            request.inputs["queries"].CopyFrom(tf.make_tensor_proto([query], dtype=tf.string))
            request.inputs["k"].CopyFrom(tf.make_tensor_proto([k] if per_query else k, dtype=tf.int32))
            request.inputs["diversity"].CopyFrom(
                tf.make_tensor_proto([diversity] if per_query else diversity, dtype=tf.float32))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
