"""`tfsearch serve`'s gRPC front end: TensorFlow Serving's `PredictionService` and `ModelService`.

Built from the `tensorflow-serving-api` protos, so a client written for
TensorFlow Serving (`prediction_service_pb2_grpc.PredictionServiceStub`,
`model_service_pb2_grpc.ModelServiceStub`) works unchanged. The handlers
run checked calls through the `SearchService` shared with the REST front
end: concurrent gRPC and REST searches are batched together, share the
result cache and are counted in the same metrics.

The server is gRPC's asyncio one (`grpc.aio`), on an event loop (uvloop's,
as uvicorn's) in a thread of its own: an RPC waiting for its batch holds no
thread, and a request costs no hand-over between gRPC's polling thread and
one of a pool of handler threads. TensorProtos are read and written by
`tensor_protos` rather than `tf.make_ndarray` / `tf.make_tensor_proto`.
"""

import asyncio
import logging
import math
import threading
import time

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tfsearch.serving.search_service import (
    MAX_BATCH,
    SIGNATURES,
    TEXT_INPUTS,
    BadRequest,
    NotFound,
    PredictCall,
    Unavailable,
    shown,
)
from tfsearch.serving.tensor_protos import flat_values, to_tensor_proto

logger = logging.getLogger("tfsearch.serving")

DEFAULT_GRPC_PORT = 8500  # TensorFlow Serving's
MAX_MESSAGE_BYTES = 4 << 20  # the largest request accepted (gRPC's own default)
DEFAULT_SIGNATURE = "serving_default"
PREDICTION_SERVICE = "/tensorflow.serving.PredictionService/"
MODEL_SERVICE = "/tensorflow.serving.ModelService/"
SIGNATURE_DEF_FIELD = "signature_def"  # the one metadata field TensorFlow Serving answers


async def _answer(metrics, method, handler, request, context, empty):
    """`await handler(request)`, with errors as gRPC statuses and the RPC counted in `metrics` under `method`."""
    start, code = time.perf_counter(), grpc.StatusCode.OK
    try:
        return await handler(request)
    except NotFound as e:
        code, message = grpc.StatusCode.NOT_FOUND, str(e)
    except Unavailable as e:
        code, message = grpc.StatusCode.UNAVAILABLE, str(e)
    except (BadRequest, ValueError, tf.errors.InvalidArgumentError) as e:
        code, message = grpc.StatusCode.INVALID_ARGUMENT, getattr(e, "message", None) or str(e)
    except Exception as e:  # a bug or a broken version: logged, answered without internals
        code, message = grpc.StatusCode.INTERNAL, f"internal error: {type(e).__name__}"
        logger.error("%s failed: %s: %s", method, type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    finally:
        metrics.observe_request("GRPC", method, code.name, time.perf_counter() - start)
    context.set_code(code)
    context.set_details(message)
    return empty


def _served_version(loaded, model_name, spec):
    """Checks a request's `ModelSpec` against the version served; NotFound naming what is served."""
    if spec.name != model_name:
        raise NotFound(f"Servable not found for request: model {shown(spec.name)}; this server serves "
                       f"{model_name!r}")
    choice = spec.WhichOneof("version_choice")
    asked = spec.version.value if choice == "version" else spec.version_label if choice else None
    if asked is not None and str(asked) != str(loaded.version):
        raise NotFound(f"Servable not found for request: version {shown(asked)} of model {model_name!r}; this "
                       f"server serves version {loaded.version} (leave the version out, or ask for it)")


def _input_specs(loaded, signature_name):
    """`{alias: (tf.DType, rank or None)}` of a signature's inputs (its SignatureDef's)."""
    return {alias: (tf.as_dtype(info.dtype), None if info.tensor_shape.unknown_rank else len(info.tensor_shape.dim))
            for alias, info in loaded.signature_defs[signature_name].inputs.items()}


def _array(alias, proto, dtype, rank):
    """A request's TensorProto as Python values (a scalar or a list; strings as str), checked against the
    signature's input."""
    try:
        given = tf.as_dtype(proto.dtype) if proto.dtype else None
    except TypeError:  # not a DataType
        given = None
    if given != dtype:
        raise BadRequest(f"input `{alias}` must be a {dtype.name} tensor, got "
                         f"{given.name if given is not None else 'no dtype'}")
    dims = [d.size for d in proto.tensor_shape.dim]
    if proto.tensor_shape.unknown_rank:
        raise BadRequest(f"input `{alias}` must have a known shape, got unknown_rank")
    if rank is not None and len(dims) != rank:
        raise BadRequest(f"input `{alias}` must have rank {rank} ({'a scalar' if rank == 0 else 'shape [batch]'}), "
                         f"got shape {dims}")
    if any(d < 0 for d in dims) or math.prod(dims) > MAX_BATCH:  # before anything is allocated
        raise BadRequest(f"input `{alias}` must hold at most {MAX_BATCH} values, got shape {dims}")
    if len(dims) > 1:  # not a search's input: TensorFlow's reading, nested lists
        values = tf.make_ndarray(proto).tolist()
        return values if dtype != tf.string else _decoded(alias, values)
    values = flat_values(proto, dtype, math.prod(dims))
    if dtype == tf.string:
        values = _decoded(alias, values)
    return values[0] if not dims else values


def _decoded(alias, values):
    """`values` (bytes, nested lists of them) as str; BadRequest for invalid UTF-8."""
    try:
        return [_decoded(alias, v) if isinstance(v, list) else v.decode("utf-8") for v in values]
    except UnicodeDecodeError:
        raise BadRequest(f"input `{alias}` must hold valid UTF-8 strings") from None


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """TensorFlow Serving's `PredictionService`: `Predict` and `GetModelMetadata` (others: UNIMPLEMENTED).

    `Predict` calls `serving_default`, `search`, `search_batchable`,
    `encode_query` or `encode_document` of the version served, with the
    inputs TensorFlow Serving takes (TensorProtos of the SignatureDef's
    dtypes; `k` and `diversity` may be left out: the version's defaults) and
    answers its outputs as TensorProtos, with `model_spec` (name, version,
    signature name) filled in. Bad input is `INVALID_ARGUMENT`, another
    model or version `NOT_FOUND`.

    Args:
        service: the `SearchService`.
        model_name: the name clients give in `model_spec.name`.
    """

    def __init__(self, service, model_name):
        self.service, self.model_name = service, model_name

    async def Predict(self, request, context):  # noqa: N802 (the proto's names)
        return await _answer(self.service.metrics, PREDICTION_SERVICE + "Predict", self._predict, request, context,
                             predict_pb2.PredictResponse())

    async def GetModelMetadata(self, request, context):  # noqa: N802
        return await _answer(self.service.metrics, PREDICTION_SERVICE + "GetModelMetadata", self._metadata,
                             request, context, get_model_metadata_pb2.GetModelMetadataResponse())

    async def _predict(self, request):
        loaded = self.service.store.current
        _served_version(loaded, self.model_name, request.model_spec)
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        if signature_name not in SIGNATURES or not loaded.has_signature(signature_name):
            available = [s for s in SIGNATURES if loaded.has_signature(s)]
            raise BadRequest(f"Serving signature key {shown(signature_name)} not found; signatures served: "
                             f"{', '.join(available)}")
        specs = _input_specs(loaded, signature_name)
        unknown = sorted(set(request.inputs) - set(specs))
        if unknown:
            raise BadRequest(f"input tensor alias not found in signature: {', '.join(unknown)}. Inputs expected to "
                             f"be in the set {{{', '.join(sorted(specs))}}}")
        text_input = TEXT_INPUTS[signature_name]
        if text_input not in request.inputs:
            raise BadRequest(f"missing input `{text_input}` (signature {signature_name!r} takes "
                             f"{', '.join(sorted(specs))})")
        values = {alias: _array(alias, proto, *specs[alias]) for alias, proto in request.inputs.items()}
        texts = values.pop(text_input)
        call = PredictCall.checked(loaded, signature_name, [texts] if isinstance(texts, str) else texts,
                                   values.get("k"), values.get("diversity"))
        version, outputs = await self.service.predict(call)
        wanted = list(request.output_filter) or list(outputs)
        missing = [alias for alias in wanted if alias not in outputs]
        if missing:
            raise BadRequest(f"output tensor alias not found in signature: {', '.join(missing)}. Outputs expected "
                             f"to be in the set {{{', '.join(sorted(outputs))}}}")
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.model_name
        response.model_spec.version.value = version.version
        response.model_spec.signature_name = signature_name
        for alias in wanted:
            response.outputs[alias].CopyFrom(to_tensor_proto(outputs[alias]))
        return response

    async def _metadata(self, request):
        loaded = self.service.store.current
        _served_version(loaded, self.model_name, request.model_spec)
        fields = list(request.metadata_field)
        if not fields:
            raise BadRequest("GetModelMetadataRequest must specify at least one metadata_field "
                             f"({SIGNATURE_DEF_FIELD!r})")
        unsupported = [field for field in fields if field != SIGNATURE_DEF_FIELD]
        if unsupported:
            raise BadRequest(f"Metadata field {shown(unsupported[0])} is not supported; the one answered is "
                             f"{SIGNATURE_DEF_FIELD!r}")
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in loaded.signature_defs.items():
            signature_map.signature_def[name].CopyFrom(signature_def)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self.model_name
        response.model_spec.version.value = loaded.version
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """TensorFlow Serving's `ModelService.GetModelStatus`: the versions' states (`HandleReloadConfigRequest`:
    UNIMPLEMENTED; versions are picked up from the base path).

    Args:
        service: the `SearchService` (its `store` gives the states).
        model_name: the name clients give in `model_spec.name`.
    """

    def __init__(self, service, model_name):
        self.service, self.model_name = service, model_name

    async def GetModelStatus(self, request, context):  # noqa: N802
        return await _answer(self.service.metrics, MODEL_SERVICE + "GetModelStatus", self._status, request,
                             context, get_model_status_pb2.GetModelStatusResponse())

    async def _status(self, request):
        store, spec = self.service.store, request.model_spec
        if spec.name != self.model_name:
            raise NotFound(f"Could not find any versions of model {shown(spec.name)}; this server serves "
                           f"{self.model_name!r}")
        states = store.status() if hasattr(store, "status") else [
            {"version": str(store.current.version), "state": "AVAILABLE",
             "status": {"error_code": "OK", "error_message": ""}}]
        choice = spec.WhichOneof("version_choice")
        if choice:
            asked = str(spec.version.value if choice == "version" else spec.version_label)
            states = [s for s in states if s["version"] == asked]
            if not states:
                raise NotFound(f"Could not find version {shown(asked)} of model {self.model_name!r}; this server "
                               f"serves version {store.current.version}")
        response = get_model_status_pb2.GetModelStatusResponse()
        codes = get_model_status_pb2.ModelVersionStatus.DESCRIPTOR.fields_by_name["status"].message_type \
            .fields_by_name["error_code"].enum_type.values_by_name
        for state in states:
            status = response.model_version_status.add()
            status.version = int(state["version"])
            status.state = get_model_status_pb2.ModelVersionStatus.State.Value(state["state"])
            status.status.error_code = codes[state["status"]["error_code"]].number
            status.status.error_message = state["status"]["error_message"]
        return response


def _new_event_loop():
    """uvloop's event loop where it is installed (as `setup.py` asks, but on Windows), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class GrpcServer:
    """A running `grpc.aio` server, on an event loop in a thread of its own (`start_grpc_server` makes it).

    Attributes:
        port: int, the port bound.
    """

    def __init__(self, service, model_name, address, max_message_bytes):
        self._loop = _new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tfsearch-grpc", daemon=True)
        self._thread.start()
        try:
            self._server, self.port = self._run(self._start(service, model_name, address, max_message_bytes))
        except BaseException:
            self._close_loop()
            raise

    def stop(self, grace=None):
        """Stops serving: RPCs under way get `grace` seconds (None: none) to finish; returns once stopped.

        Calling it again does nothing.
        """
        if self._server is None:
            return
        server, self._server = self._server, None
        self._run(server.stop(grace))
        self._close_loop()

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _close_loop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    @staticmethod
    async def _start(service, model_name, address, max_message_bytes):
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", max_message_bytes),
                                          ("grpc.so_reuseport", 0)])  # a port in use is an error, not shared
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(service, model_name), server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(service, model_name), server)
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as e:
            raise OSError(f"could not bind gRPC to {address} (is the port in use?): {e}") from None
        if not bound:
            raise OSError(f"could not bind gRPC to {address} (is the port in use?)")
        await server.start()
        return server, bound


def start_grpc_server(service, model_name, port=DEFAULT_GRPC_PORT, host="127.0.0.1",
                      max_message_bytes=MAX_MESSAGE_BYTES):
    """Starts TensorFlow Serving's gRPC API (`PredictionService`, `ModelService`) over `service`.

    gRPC's asyncio server, on an event loop in a thread of its own: each
    `Predict` awaits `service.predict` (so concurrent RPCs join the REST
    requests' batches) without holding a thread. Requests over
    `max_message_bytes` are refused by gRPC (`RESOURCE_EXHAUSTED`). Each RPC
    is counted in `service.metrics` under method `GRPC` and its full method
    name.

    Args:
        service: the `SearchService` (shared with `create_app(...,
            service=service)` to share batching, cache and metrics).
        model_name: the name clients give in `model_spec.name`.
        port: int, the port; 0 picks a free one.
        host: the address to bind (default: 127.0.0.1, local clients only).
        max_message_bytes: int, the largest request accepted.

    Returns:
        The started `GrpcServer`; its `port` attribute is the port bound.
        Stop it with `server.stop(grace_seconds)`.

    Raises:
        OSError: the address could not be bound (e.g. the port is in use).

    Example:
    ```python
    server = start_grpc_server(service, "scifact", port=8500)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel("127.0.0.1:8500"))
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "scifact", "search"
    request.inputs["queries"].CopyFrom(tf.make_tensor_proto(["covid vaccines"]))
    request.inputs["k"].CopyFrom(tf.make_tensor_proto(10, dtype=tf.int32))
    ids = tf.make_ndarray(stub.Predict(request, timeout=10).outputs["ids"])  # bytes [1, 10]
    server.stop(grace=5)
    ```
    """
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return GrpcServer(service, model_name, address, max_message_bytes)
