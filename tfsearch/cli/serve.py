"""`tfsearch serve`: TensorFlow Serving's REST and gRPC APIs, `/search` and a search page over an export's versions."""

import pathlib
import sys

from tfsearch.cli.arg_types import non_negative_int, positive_int


def _host_list(text):
    return [host.strip() for host in text.split(",") if host.strip()]


def _allowed_hosts(host, extra):
    """The Host header names accepted: on a loopback address its names plus `extra`; elsewhere `extra` (if any)."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        loopback = False
    if loopback:
        return ["127.0.0.1", "localhost", "::1", host, *(extra or [])]
    return None if extra is None else [host, *extra]


def set_tensorflow_threads(intra_op, inter_op):
    """The thread flags, before any op runs (TensorFlow makes its pools then); None for both: tfsearch's choice.

    tfsearch's choice (`use_one_intra_op_thread`) is one intra-op thread per
    call on a CPU, so batches (or requests) run side by side, each on a
    core; a flag given sets both pools as TensorFlow Serving's flags do (0 or
    None: TensorFlow's choice).
    """
    if intra_op is None and inter_op is None:
        from tfsearch.utils.cpu_threads import use_one_intra_op_thread

        use_one_intra_op_thread()
        return
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra_op or 0)
    tf.config.threading.set_inter_op_parallelism_threads(inter_op or 0)


def cmd_serve(args):
    import gc

    import uvicorn

    from tfsearch.serving.app import create_app
    from tfsearch.serving.grpc_server import start_grpc_server
    from tfsearch.serving.model_store import ModelStore
    from tfsearch.serving.search_service import DEFAULT_MAX_BATCH_SIZE, SearchService, batched_signatures

    # What the imports made (TensorFlow's modules: ~330k objects) lives as long as the process: frozen, Python's
    # garbage collector no longer walks it, and a full collection under load stops every request for a few
    # milliseconds instead of 0.2 s. The versions loaded later stay collectable.
    gc.collect()
    gc.freeze()
    set_tensorflow_threads(args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism)
    batching = {key: value for key, value in (("max_batch_size", args.max_batch_size),
                                              ("batch_timeout_micros", args.batch_timeout_micros),
                                              ("num_batch_threads", args.num_batch_threads))
                if value is not None}  # left out: SearchService's defaults (the export's batching parameters)
    batched = batched_signatures(batching.get("max_batch_size", DEFAULT_MAX_BATCH_SIZE))  # warm up what is called
    store = ModelStore(args.model_base_path, poll_seconds=args.poll_seconds, batched_signatures=batched)
    service = SearchService(store, cache_size=args.cache_size, **batching)  # one for REST and gRPC
    name = args.model_name or pathlib.Path(args.model_base_path).name
    app = create_app(args.model_base_path, model_name=name, service=service,
                     allowed_hosts=_allowed_hosts(args.host, args.allowed_hosts))
    grpc_server = None
    try:
        if args.grpc_port:
            try:
                grpc_server = start_grpc_server(service, name, port=args.grpc_port, host=args.host)
            except OSError as e:
                print(f"tfsearch serve: error: {e}", file=sys.stderr)
                return 2
        grpc_address = f"gRPC at {args.host}:{grpc_server.port}" if grpc_server is not None else "gRPC off"
        print(f"Serving {args.model_base_path} version {store.current.version} at http://{args.host}:{args.port}/ "
              f"(REST: /v1/models/{name}:predict; {grpc_address}, model_spec.name {name!r})", flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=5)
        service.close()
        store.close()
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser(
        "serve", help="Serve an exported model (TF Serving's REST and gRPC APIs, /search, a page).",
        description="Load the newest version under --model-base-path, switch to newer versions as they appear, "
                    "and answer TensorFlow Serving's REST API, GET /search and a search page at /, and TensorFlow "
                    "Serving's gRPC API (PredictionService.Predict / GetModelMetadata, ModelService."
                    "GetModelStatus) on --grpc-port. REST and gRPC share request batching, the result cache and "
                    "the metrics. Binds 127.0.0.1 unless told otherwise.")
    p.add_argument("--model-base-path", required=True, help="e.g. saved_models/scifact (`tfsearch export`)")
    p.add_argument("--model-name", help="the name in /v1/models/NAME and gRPC's model_spec.name (default: the "
                                        "folder's name)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind, REST and gRPC (default: 127.0.0.1)")
    p.add_argument("--port", type=positive_int, default=8501, help="REST port (default: 8501, as TF Serving's)")
    p.add_argument("--grpc-port", type=non_negative_int, default=8500,
                   help="gRPC port (default: 8500, as TF Serving's); 0 turns gRPC off")
    p.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for a new version")
    for pool in ("intra", "inter"):
        p.add_argument(f"--tensorflow-{pool}-op-parallelism", type=non_negative_int, default=None,
                       help=f"TensorFlow's {pool}-op thread pool size (TF Serving's flag); 0: TensorFlow's choice "
                            "(the cores). Default, with neither flag given: on a CPU one intra-op thread per "
                            "signature call and one inter-op thread per core, so batches (or requests) run side by "
                            "side, each on a core (tfsearch.utils.cpu_threads.use_one_intra_op_thread; "
                            "TF_NUM_INTRAOP_THREADS is kept if set); with a GPU or TPU, TensorFlow's choice")
    p.add_argument("--max-batch-size", type=non_negative_int, default=None,
                   help="request batching (TF Serving's flag): concurrent searches (/search, predicts to search / "
                        "serving_default, REST or gRPC) are joined into one search_batchable call of at most this "
                        "many queries; a request with more runs alone. 0 or 1 turns batching off: each request is "
                        "its own call (default: the export's batching_params.pbtxt value, "
                        "DEFAULT_BATCHING_PARAMETERS)")
    p.add_argument("--batch-timeout-micros", type=non_negative_int, default=None,
                   help="the longest a batch waits for more requests after its first, in microseconds (TF "
                        "Serving's flag), while another batch is running (an idle server runs a request at "
                        "once); 0: a batch takes only what is already queued (default: the export's "
                        "batching_params.pbtxt value, DEFAULT_BATCHING_PARAMETERS: 0, best on a CPU)")
    p.add_argument("--num-batch-threads", type=positive_int, default=None,
                   help="batches that may run at once (TF Serving's batching parameter; default: the export's "
                        "batching_params.pbtxt value)")
    p.add_argument("--cache-size", type=non_negative_int, default=0,
                   help="result-cache entries (one per query, k and diversity), shared by REST and gRPC; 0: no "
                        "cache (default)")
    p.add_argument("--allowed-hosts", type=_host_list, default=None,
                   help="comma-separated host names also accepted in the Host header (a guard against DNS "
                        "rebinding), besides the bound address (and 127.0.0.1, localhost, ::1 when it is a loopback "
                        "one), e.g. search.example.org behind a proxy; * accepts any. Bound elsewhere without this "
                        "flag, any Host is accepted")
    p.set_defaults(func=cmd_serve)
