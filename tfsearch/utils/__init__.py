"""Small shared helpers, standard library only (importing them loads no TensorFlow).

- `arguments`: `check_integer`, one wording for integer arguments;
- `atomic`: atomic file and folder writes;
- `folder_files`: the ids and JSON metadata files of tfsearch folders;
- `format_errors`: `FileFormatError`, the "path:line: problem" base error;
- `lazy_exports`: package exports imported on first use;
- `onednn`: TensorFlow's oneDNN kernels on every x86-64 CPU with AVX2 and FMA (`choose_onednn`);
- `precision`: the compute precision chosen from the hardware (`resolve_precision`).
"""

from tfsearch.utils.arguments import check_integer
from tfsearch.utils.atomic import atomic_directory, atomic_file, atomic_write_text
from tfsearch.utils.folder_files import IDS_FILE, read_ids, read_metadata, write_ids, write_metadata
from tfsearch.utils.format_errors import FileFormatError
from tfsearch.utils.lazy_exports import lazy_exports
from tfsearch.utils.onednn import choose_onednn
from tfsearch.utils.precision import choose_policy, resolve_precision

__all__ = [
    "IDS_FILE",
    "FileFormatError",
    "atomic_directory",
    "atomic_file",
    "atomic_write_text",
    "check_integer",
    "choose_onednn",
    "choose_policy",
    "lazy_exports",
    "read_ids",
    "read_metadata",
    "resolve_precision",
    "write_ids",
    "write_metadata",
]
