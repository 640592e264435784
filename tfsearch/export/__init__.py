"""SavedModel exports for TensorFlow Serving: the search graph, versioned atomic writes, the op audit."""

from tfsearch.export.op_audit import ExportAuditError, audit_ops, saved_model_ops
from tfsearch.export.saved_model_export import (
    DEFAULT_BATCHING_PARAMETERS,
    batching_parameters_text,
    export_search_model,
    read_export_info,
    read_signature_defs,
    read_warmup_requests,
    signature_defaults,
    version_files,
    version_identity,
    version_is_complete,
    versions,
)
from tfsearch.export.search_module import (
    DEFAULT_DIVERSITY,
    DEFAULT_ENCODING_CHUNK_SIZE,
    DEFAULT_K,
    DEFAULT_MAX_K,
    DEFAULT_NUM_CANDIDATES,
    SearchModule,
    default_k,
)

__all__ = [
    "DEFAULT_BATCHING_PARAMETERS",
    "DEFAULT_DIVERSITY",
    "DEFAULT_ENCODING_CHUNK_SIZE",
    "DEFAULT_K",
    "DEFAULT_MAX_K",
    "DEFAULT_NUM_CANDIDATES",
    "ExportAuditError",
    "SearchModule",
    "audit_ops",
    "batching_parameters_text",
    "default_k",
    "export_search_model",
    "read_export_info",
    "read_signature_defs",
    "read_warmup_requests",
    "saved_model_ops",
    "signature_defaults",
    "version_files",
    "version_identity",
    "version_is_complete",
    "versions",
]
