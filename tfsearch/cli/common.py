"""What several commands share: quiet logs, loading an encoder, an index folder with its encoder."""

import os
import pathlib


def quiet_tensorflow():
    """Hides TensorFlow's C++ logs and transformers' deprecation notices (unless already configured)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import warnings

    warnings.filterwarnings("ignore", message=".*TensorFlow and JAX classes are deprecated.*")


PRECISIONS = ("auto", "float32", "bfloat16")


def add_model_flags(parser, bf16=True):
    """`--model`, `--batch-size`, `--max-length` and (optionally) `--precision` / `--bf16`: the flags of commands
    that encode."""
    from tfsearch.cli.arg_types import positive_int

    parser.add_argument("--model", help="checkpoint folder or preset (default: all-MiniLM-L6-v2)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="texts per forward pass (default: 64)")
    parser.add_argument("--max-length", type=positive_int, help="tokens per text (default: the checkpoint's, 256)")
    if bf16:
        parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                            help="compute precision: auto picks bfloat16 where it is native (CPUs with AVX512-BF16 "
                                 "or AMX-BF16, TPUs, GPUs of compute capability 8.0+), float16 on GPUs of "
                                 "capability 7.x, else float32; bfloat16 embeddings stay within cosine 0.999 of "
                                 "float32 (default: auto)")
        parser.add_argument("--bf16", dest="precision", action="store_const", const="bfloat16",
                            help="the same as --precision bfloat16")


def encoder_dtype(precision, announce=True):
    """The `dtype` of `BertEncoder.from_pretrained` for a `--precision` value; prints the choice of "auto".

    Args:
        precision: None (the checkpoint's own), `"auto"`, `"float32"` or `"bfloat16"`.
        announce: bool. Print one line, e.g. `precision: float32 (CPU without AVX512-BF16 or AMX-BF16)`,
            when `precision` is "auto".
    """
    if precision is None:
        return None
    if precision not in PRECISIONS:
        raise ValueError(f"`--precision` must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    if precision == "bfloat16":
        return "mixed_bfloat16"
    if precision == "float32":
        return "float32"
    from tfsearch.utils.precision import policy_name, resolve_precision

    policy, reason = resolve_precision("auto", argument="--precision")
    if announce:
        print(f"precision: {policy_name(policy)} ({reason})", flush=True)
    return policy or "float32"


def load_encoder(model, sequence_length=None, bf16=False, precision=None, announce=True):
    """`BertEncoder.from_pretrained(model)`; `model` None is the default preset.

    `precision` (a `--precision` value) wins over `bf16`; with neither the
    checkpoint's own precision is kept (float32 for Hugging Face checkpoints).
    On a CPU, a command that loads its encoder before TensorFlow has run
    anything runs one intra-op thread per call, batches side by side
    (`tfsearch.utils.cpu_threads`); no command that trains loads it here.
    """
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.utils.cpu_threads import use_one_intra_op_thread

    use_one_intra_op_thread()
    precision = precision or ("bfloat16" if bf16 else None)
    return BertEncoder.from_pretrained(model, sequence_length=sequence_length,
                                       dtype=encoder_dtype(precision, announce))


def load_document_encoder(model, sequence_length=None, bf16=False, precision=None):
    """The separate document tower of a `tfsearch train` output folder, or None (shared towers).

    Loaded in the same precision as `load_encoder`'s (its choice is not printed again).
    """
    from tfsearch.models.two_tower import DOCUMENT_ENCODER_DIR

    if model is None or not (pathlib.Path(model) / DOCUMENT_ENCODER_DIR).is_dir():
        return None
    return load_encoder(str(pathlib.Path(model) / DOCUMENT_ENCODER_DIR), sequence_length, bf16, precision,
                        announce=False)


def index_and_encoder(index_path, model=None, precision=None):
    """`(built, model, encoder, index)`: an index folder with the encoder it was built with (or `model`, checked).

    `built` is the metadata the index was saved with (`model`, `max_length`,
    `data`, ...). The folder is checked before any model is loaded. The
    encoder computes in `precision` (a `--precision` value; None: the
    checkpoint's own).
    """
    from tfsearch.index.index_building import load_index
    from tfsearch.index.index_files import read_index_meta
    from tfsearch.models.fingerprint import model_fingerprint

    built = read_index_meta(index_path).get("metadata", {})
    model = model if model is not None else built.get("model")
    encoder = load_encoder(model, built.get("max_length"), precision=precision)
    index, _ = load_index(index_path, encoder_fingerprint=model_fingerprint(encoder))
    return built, model, encoder, index


def corpus_titles(data_path, wanted=None, text_chars=0):
    """`{doc_id: title}` of the BEIR folder an index was built from, or `{}` when it is not here any more.

    Args:
        data_path: the folder recorded in the index's metadata, or None.
        wanted: ids to keep, or None for every document.
        text_chars: int. Untitled documents get this many characters of their text instead.
    """
    if not data_path or not pathlib.Path(data_path).is_dir():
        return {}
    from tfsearch.data.beir import BeirDataset

    return {doc.id: doc.title or doc.text[:text_chars] for doc in BeirDataset(data_path).iter_corpus()
            if wanted is None or doc.id in wanted}
