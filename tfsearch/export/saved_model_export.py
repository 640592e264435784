"""Versioned SavedModel exports in TensorFlow Serving's layout, written atomically and audited."""

import datetime
import json
import os
import pathlib
import shutil
import uuid

import tensorflow as tf

from tfsearch.export.op_audit import audit_ops, check_audit, saved_model_ops
from tfsearch.export.search_module import (DEFAULT_DIVERSITY, DEFAULT_ENCODING_CHUNK_SIZE, DEFAULT_MAX_K,
                                          DEFAULT_NUM_CANDIDATES, SearchModule)

EXPORT_INFO_FILE = "tfsearch_export.json"
ASSETS_EXTRA_DIR = "assets.extra"  # TensorFlow Serving's folder of extra files (warm-up requests)
WARMUP_FILE = "tf_serving_warmup_requests"
TITLES_FILE = "titles.json"
BATCHING_PARAMETERS_FILE = "batching_params.pbtxt"
SAVED_MODEL_FILE = "saved_model.pb"
VARIABLES_INDEX_FILE = "variables/variables.index"
DEFAULT_WARMUP_QUERY = "example query"
# Keys of `tfsearch_export.json` that say which export a version folder holds
# and when it is completely there: `{relative posix path: size in bytes}` of
# every other file of the folder, and a unique id (uuid4 hex) of the export.
EXPORT_FILES_KEY = "files"
EXPORT_ID_KEY = "export_id"
_TEMPORARY_PREFIX = ".tmp-"

# TensorFlow Serving's server-side batching of `search_batchable`
# (`--enable_batching --enable_per_model_batching_parameters` reads them from
# each version folder), and `tfsearch serve`'s request batching. Chosen by
# `python bench/batching.py` (result: `bench/results/batching.json`): the
# pretrained encoder, SciFact's queries over the demo corpus, k 10, diversity
# 0.3, two calls side by side with one intra-op thread each, on 2 AMD EPYC
# cores (AVX-512). `max_batch_size`: the batch with the most queries/s among
# those whose median latency stays within 100 ms (8: 403.8 queries/s at 38.3
# ms; 16 gave 387.0 at 83.7 ms: a batch is padded to its longest query, so
# past 8 the encoder's work grows faster than the batch; through `tfsearch
# serve` 8 gave 16% more than 16 at 16 clients,
# bench/results/serve_settings_epyc_avx512.json); `allowed_batch_sizes`: the
# powers of two up to it (a batch is padded to the next one, so the graph sees
# few shapes); `batch_timeout_micros`: 0 on a CPU, where TensorFlow Serving's
# batching guide starts ("0 may be the optimal value"), and best through
# `tfsearch serve` too (same file: 229.7 requests/s at 16 clients without a
# wait, 208.7 with 2 ms, 188.1 with 11 ms); `num_batch_threads`: the cores.
DEFAULT_BATCHING_PARAMETERS = {
    "max_batch_size": 8,
    "batch_timeout_micros": 0,
    "num_batch_threads": 2,
    "max_enqueued_batches": 100,
    "allowed_batch_sizes": (1, 2, 4, 8),
}
DEFAULT_SIGNATURE = "serving_default"  # TensorFlow Serving's signature for a request that names none
BATCHABLE_SIGNATURE = "search_batchable"  # `SearchModule`'s per-query `k` and `diversity`
WARMUP_SIGNATURES = (DEFAULT_SIGNATURE, BATCHABLE_SIGNATURE)
_BATCHING_FIELDS = ("max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches")


def versions(base_path):
    """The integer version folders of a model base path, ascending (temporary folders are ignored)."""
    base = pathlib.Path(base_path)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def version_files(folder):
    """`{relative posix path: size in bytes}` of every file under a version folder but `tfsearch_export.json`.

    What `export_search_model` lists in `tfsearch_export.json` (`files`), and
    what `version_is_complete` compares between two polls for a folder
    without it. A file removed while the folder is walked is left out.
    """
    folder = pathlib.Path(folder)
    files = {}
    for root, _, names in os.walk(folder):  # a folder removed meanwhile is skipped, not an error
        for name in names:
            path = pathlib.Path(root, name)
            relative = path.relative_to(folder).as_posix()
            try:
                if relative != EXPORT_INFO_FILE and path.is_file():
                    files[relative] = path.stat().st_size
            except OSError:  # removed meanwhile
                continue
    return dict(sorted(files.items()))


def read_export_info(folder):
    """The parsed `tfsearch_export.json` of a version folder: a dict, or None where there is none.

    Raises:
        ValueError: the file is there but is not (yet) a JSON object, e.g.
            while it is being copied.
    """
    path = pathlib.Path(folder) / EXPORT_INFO_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        info = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{path} is not JSON yet ({e}); wait for it to be written completely.") from e
    if not isinstance(info, dict):
        raise ValueError(f"{path} holds {type(info).__name__}, not a JSON object: rewrite it with `tfsearch export`.")
    return info


def version_is_complete(folder, previous_files=None):
    """Whether a version folder is completely written, so that a server may load it.

    A tfsearch export (`tfsearch_export.json`, written last, lists the
    folder's files) is complete when its `tfsearch_export.json` parses and
    every file it lists is there with the listed size. A SavedModel written
    otherwise (no `tfsearch_export.json`, or an older one without `files`)
    is complete when `saved_model.pb` and `variables/variables.index` are
    there and its `version_files` equal `previous_files`, those of the
    previous look (a quiet period: nothing is being copied in).

    Args:
        folder: a version folder (`base_path/<version>`).
        previous_files: the folder's `version_files` at the previous look,
            or None (a folder without a file list is then not complete yet).

    Returns:
        bool.
    """
    folder = pathlib.Path(folder)
    try:
        info = read_export_info(folder)
    except (OSError, ValueError):
        return False
    listed = (info or {}).get(EXPORT_FILES_KEY)
    if isinstance(listed, dict):
        return all(_size(folder / relative) == size for relative, size in listed.items())
    return (previous_files is not None and (folder / SAVED_MODEL_FILE).is_file()
            and (folder / VARIABLES_INDEX_FILE).is_file() and version_files(folder) == previous_files)


def version_identity(folder):
    """Which export a version folder holds, to tell a republished version number from the one loaded.

    Returns:
        The `export_id` of its `tfsearch_export.json`; for a folder without
        one, `(st_ino, st_mtime_ns)` of its `saved_model.pb`; None when
        neither is there (the folder is gone or not a SavedModel).
    """
    folder = pathlib.Path(folder)
    try:
        export_id = (read_export_info(folder) or {}).get(EXPORT_ID_KEY)
    except (OSError, ValueError):
        export_id = None
    if export_id:
        return export_id
    try:
        stat = (folder / SAVED_MODEL_FILE).stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns)


def _size(path):
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def read_signature_defs(export_dir):
    """`{signature name: SignatureDef proto}` of a SavedModel's first MetaGraph (`saved_model.pb`)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(export_dir) / SAVED_MODEL_FILE).read_bytes())
    return dict(proto.meta_graphs[0].signature_def)


def signature_defaults(export_dir, signature_defs=None):
    """`{signature: {input: value}}`: the default input values stored in a SavedModel's SignatureDefs.

    TensorFlow Serving fills an input missing from a request with its default
    (`SignatureDef.defaults`); `tf.saved_model.load`'s signature functions do
    not, and `tfsearch serve` needs each request's `k` and `diversity` before
    it batches requests or looks them up in its cache, so it reads them here.

    Args:
        export_dir: the SavedModel folder.
        signature_defs: optional `read_signature_defs(export_dir)`, already
            read (then `saved_model.pb` is not read again).
    """
    if signature_defs is None:
        signature_defs = read_signature_defs(export_dir)
    return {name: {alias: tf.make_ndarray(value).item() for alias, value in signature.defaults.items()}
            for name, signature in signature_defs.items() if signature.defaults}


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
    # batch_timeout_micros { value: 0 }
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
                        warmup_queries=(DEFAULT_WARMUP_QUERY,),
                        metadata=None, titles=None, prf_documents=0, prf_beta=0.5, batching_parameters=None,
                        warmup_signature=DEFAULT_SIGNATURE, encoding_chunk_size=DEFAULT_ENCODING_CHUNK_SIZE):
    """Writes the next version of a search model under `base_path` (`base_path/<version>/`).

    The SavedModel has the signatures of `SearchModule` (`serving_default` =
    `search`, `encode_query`, `encode_document`, `search_embeddings`,
    `search_batchable`); it is written to a hidden temporary folder beside
    the versions, its ops are audited against the flavour's runtime (stock
    TensorFlow Serving for `brute_force`, one with ScaNN's ops for `scann`),
    warm-up requests and `batching_params.pbtxt` (TensorFlow Serving's
    per-model batching parameters) are added, and only then is the folder
    renamed to its version number: a server watching `base_path` never sees
    a partial version. `tfsearch_export.json` is written last and lists
    every other file of the folder with its size (`files`) and a unique
    `export_id`, so that a version copied elsewhere file by file is known
    complete (`version_is_complete`) and a republished version number is
    told from the one loaded (`version_identity`).

    Args:
        query_encoder, document_encoder: `BertEncoder`s (the document one
            defaults to the query one). A mixed-precision one is exported as
            its `inference_copy()`, its weights stored in bfloat16
            (`precision` in `tfsearch_export.json`).
        index: built `BruteForceIndex` or `ScannIndex` (of a loaded one:
            `tfsearch.index.exportable_index`).
        base_path: the model's folder (TensorFlow Serving's `--model_base_path`).
        document_embeddings: ignored, kept for older callers: the index
            provides its rows.
        method, num_candidates, max_k, encoding_chunk_size: see
            `SearchModule` (defaults `DEFAULT_NUM_CANDIDATES`,
            `DEFAULT_MAX_K`, `DEFAULT_ENCODING_CHUNK_SIZE`).
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
    # A mixed-precision encoder is exported with its weights cast once (`BertEncoder.inference_copy`).
    served_query_encoder = _inference_copy(query_encoder)
    document_encoder = (served_query_encoder if document_encoder is None or document_encoder is query_encoder
                        else _inference_copy(document_encoder))
    query_encoder = served_query_encoder
    del document_embeddings  # the index provides its rows
    batching_text = batching_parameters_text(batching_parameters)  # a bad setting fails before any work
    if warmup_signature not in WARMUP_SIGNATURES:
        raise ValueError(f"`warmup_signature` must be one of {WARMUP_SIGNATURES}, got {warmup_signature!r}.")
    module = SearchModule(query_encoder, document_encoder, index, method=method, num_candidates=num_candidates,
                          max_k=max_k, prf_documents=prf_documents, prf_beta=prf_beta,
                          encoding_chunk_size=encoding_chunk_size)
    flavour = module.backend
    base = pathlib.Path(base_path)
    base.mkdir(parents=True, exist_ok=True)
    export_id = uuid.uuid4().hex
    tmp = base / f"{_TEMPORARY_PREFIX}{export_id}"
    try:
        options = tf.saved_model.SaveOptions(namespace_whitelist=["Scann"] if flavour == "scann" else None)
        tf.saved_model.save(module, str(tmp), signatures=module.signatures(), options=options)
        audit = audit_ops(saved_model_ops(tmp), flavour)
        (tmp / ASSETS_EXTRA_DIR).mkdir(exist_ok=True)
        (tmp / ASSETS_EXTRA_DIR / "op_audit.json").write_text(json.dumps(audit, indent=2) + "\n")
        check_audit(audit)
        write_warmup_requests(tmp / ASSETS_EXTRA_DIR / WARMUP_FILE, list(warmup_queries), module.default_k,
                              module.default_diversity, signature=warmup_signature)
        (tmp / BATCHING_PARAMETERS_FILE).write_text(batching_text)
        if titles:
            (tmp / ASSETS_EXTRA_DIR / TITLES_FILE).write_text(json.dumps(titles, ensure_ascii=False))
        info = {
            "flavour": flavour,
            "serving": ("stock TensorFlow Serving (TensorFlow + TensorFlow Text ops)" if flavour == "brute_force"
                        else "TensorFlow Serving built with ScaNN's ops (stock TensorFlow Serving cannot load it)"),
            "signatures": sorted(module.signatures()),
            "method": method, "num_candidates": module.num_candidates, "max_k": module.max_k,
            "defaults": {"k": module.default_k, "diversity": module.default_diversity},
            "prf_documents": module.prf_documents, "prf_beta": module.prf_beta if module.prf_documents else None,
            "encoding_chunk_size": module.encoding_chunk_size,
            "precision": _compute_dtype(query_encoder),
            "num_documents": index.num_documents, "embedding_dim": query_encoder.embedding_dim,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "metadata": metadata or {},
            EXPORT_ID_KEY: export_id,
            EXPORT_FILES_KEY: version_files(tmp),  # every file is written by now
        }
        (tmp / EXPORT_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        version = _publish(tmp, base)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return base / str(version), audit


def _compute_dtype(encoder):
    """The dtype the encoder computes in (`"float32"`, `"bfloat16"`), or None where it does not say."""
    backbone = getattr(encoder, "backbone", None)
    return getattr(backbone, "compute_dtype", getattr(encoder, "compute_dtype", None))


def _inference_copy(encoder):
    """`encoder.inference_copy()` where the encoder has one (`BertEncoder`), else the encoder itself."""
    return encoder.inference_copy() if hasattr(encoder, "inference_copy") else encoder


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


def write_warmup_requests(path, queries, k, diversity=DEFAULT_DIVERSITY, signature=DEFAULT_SIGNATURE):
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
            per_query = signature == BATCHABLE_SIGNATURE
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=signature))
            request.inputs["queries"].CopyFrom(tf.make_tensor_proto([query], dtype=tf.string))
            request.inputs["k"].CopyFrom(tf.make_tensor_proto([k] if per_query else k, dtype=tf.int32))
            request.inputs["diversity"].CopyFrom(
                tf.make_tensor_proto([diversity] if per_query else diversity, dtype=tf.float32))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def read_warmup_requests(path):
    """The requests of a TensorFlow Serving warm-up file, as a server replays them.

    Args:
        path: a TFRecord file of `PredictionLog`s
            (`assets.extra/tf_serving_warmup_requests`, `write_warmup_requests`).

    Returns:
        list of `(signature_name, {input: numpy array})`, one per record (a
        request without `signature_name` names `serving_default`).

    Raises:
        ValueError: a record is not a `PredictionLog` holding a
            `predict_log` (tfsearch replays only Predict requests; rewrite
            the file with `write_warmup_requests`).
    """
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    for number, record in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator(), start=1):
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(record)
        except Exception as e:  # protobuf's DecodeError
            raise ValueError(f"{path}: record {number} is not a PredictionLog ({e}); "
                             f"rewrite the file with `write_warmup_requests`.") from e
        kind = log.WhichOneof("log_type")
        if kind != "predict_log":
            raise ValueError(f"{path}: record {number} holds a {kind}, but only predict_log warm-up requests are "
                             f"replayed; rewrite the file with `write_warmup_requests`.")
        request = log.predict_log.request
        requests.append((request.model_spec.signature_name or DEFAULT_SIGNATURE,
                         {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}))
    return requests
