"""What several commands share: quiet logs, loading an encoder, an index folder with its encoder."""

import os
import pathlib


def quiet_tensorflow():
    """Hides TensorFlow's C++ logs and transformers' deprecation notices (unless already configured)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import warnings

    warnings.filterwarnings("ignore", message=".*TensorFlow and JAX classes are deprecated.*")


def add_model_flags(parser, bf16=True):
    """`--model`, `--batch-size`, `--max-length` and (optionally) `--bf16`: the flags of commands that encode."""
    from tfsearch.cli.arg_types import positive_int

    parser.add_argument("--model", help="checkpoint folder or preset (default: all-MiniLM-L6-v2)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="texts per forward pass (default: 64)")
    parser.add_argument("--max-length", type=positive_int, help="tokens per text (default: the checkpoint's, 256)")
    if bf16:
        parser.add_argument("--bf16", action="store_true",
                            help="compute in bfloat16 (faster on CPUs with AVX512-BF16, TPUs and recent GPUs; "
                                 "embeddings stay within cosine 0.999 of float32)")


def load_encoder(model, sequence_length=None, bf16=False):
    """`BertEncoder.from_pretrained(model)`; `model` None is the default preset."""
    from tfsearch.models.bert_encoder import BertEncoder

    return BertEncoder.from_pretrained(model, sequence_length=sequence_length,
                                       dtype="mixed_bfloat16" if bf16 else None)


def load_document_encoder(model, sequence_length=None, bf16=False):
    """The separate document tower of a `tfsearch train` output folder, or None (shared towers)."""
    from tfsearch.models.two_tower import DOCUMENT_ENCODER_DIR

    if model is None or not (pathlib.Path(model) / DOCUMENT_ENCODER_DIR).is_dir():
        return None
    return load_encoder(str(pathlib.Path(model) / DOCUMENT_ENCODER_DIR), sequence_length, bf16)


def index_and_encoder(index_path, model=None):
    """`(built, model, encoder, index)`: an index folder with the encoder it was built with (or `model`, checked).

    `built` is the metadata the index was saved with (`model`, `max_length`,
    `data`, ...). The folder is checked before any model is loaded.
    """
    from tfsearch.index.index_building import load_index
    from tfsearch.index.index_files import read_index_meta
    from tfsearch.models.fingerprint import model_fingerprint

    built = read_index_meta(index_path).get("metadata", {})
    model = model if model is not None else built.get("model")
    encoder = load_encoder(model, built.get("max_length"))
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
