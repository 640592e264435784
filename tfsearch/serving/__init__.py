"""`tfsearch serve`: a local HTTP server over exported SavedModels (TensorFlow Serving's REST API and more).

Imported lazily: the server's modules load FastAPI and TensorFlow.
"""

from tfsearch.utils.lazy_exports import lazy_exports

__all__ = ["BadRequest", "GrpcServer", "LoadedVersion", "ModelServicer", "ModelStore", "PredictionServicer",
           "RequestBatcher", "SavedModelSession", "SessionSignature", "create_app", "start_grpc_server"]

__getattr__, __dir__ = lazy_exports(__name__, __all__, {
    "tfsearch.serving.app": ("BadRequest", "create_app"),
    "tfsearch.serving.grpc_server": ("GrpcServer", "ModelServicer", "PredictionServicer", "start_grpc_server"),
    "tfsearch.serving.model_store": ("LoadedVersion", "ModelStore"),
    "tfsearch.serving.request_batcher": ("RequestBatcher",),
    "tfsearch.serving.saved_model_session": ("SavedModelSession", "SessionSignature"),
})
