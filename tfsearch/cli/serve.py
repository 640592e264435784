"""`tfsearch serve`: TensorFlow Serving's REST API, `/search` and a search page over an export's versions."""

import pathlib

from tfsearch.cli.arg_types import non_negative_int, positive_int


def cmd_serve(args):
    import uvicorn

    from tfsearch.serving.app import create_app

    batching = {key: value for key, value in (("max_batch_size", args.max_batch_size),
                                              ("batch_timeout_micros", args.batch_timeout_micros))
                if value is not None}  # left out: create_app's defaults (the export's batching parameters)
    app = create_app(args.model_base_path, model_name=args.model_name, poll_seconds=args.poll_seconds, **batching)
    version = app.state.store.current.version
    print(f"Serving {args.model_base_path} version {version} at http://{args.host}:{args.port}/ "
          f"(REST: /v1/models/{args.model_name or pathlib.Path(args.model_base_path).name}:predict)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser(
        "serve", help="Serve an exported model over HTTP (TF Serving's REST API, /search, a page).",
        description="Load the newest version under --model-base-path, switch to newer versions as they appear, "
                    "and answer TensorFlow Serving's REST API, GET /search and a search page at /. Binds 127.0.0.1 "
                    "unless told otherwise.")
    p.add_argument("--model-base-path", required=True, help="e.g. saved_models/scifact (`tfsearch export`)")
    p.add_argument("--model-name", help="the name in /v1/models/NAME (default: the folder's name)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=positive_int, default=8501, help="port (default: 8501, as TF Serving's REST)")
    p.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for a new version")
    p.add_argument("--max-batch-size", type=non_negative_int, default=None,
                   help="request batching (TF Serving's flag): concurrent searches (/search, predicts to search / "
                        "serving_default) are joined into one search_batchable call of at most this many queries; "
                        "a request with more runs alone. 0 or 1 turns batching off: each request is its own call "
                        "(default: the export's batching_params.pbtxt value, DEFAULT_BATCHING_PARAMETERS)")
    p.add_argument("--batch-timeout-micros", type=non_negative_int, default=None,
                   help="the longest a batch waits for more requests after its first, in microseconds (TF "
                        "Serving's flag); 0: a batch takes only what is already queued (default: the export's "
                        "batching_params.pbtxt value)")
    p.set_defaults(func=cmd_serve)
