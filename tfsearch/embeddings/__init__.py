"""Document embeddings at scale: sharded embedding sets (TFRecord + manifest) and their Beam encoding pipeline."""

from tfsearch.embeddings.embedding_shards import (
    MANIFEST_FILE,
    SHARDS_FORMAT,
    ShardSetError,
    iter_embedding_batches,
    partition_of,
    read_embeddings,
    read_manifest,
    write_embedding_shards,
)
from tfsearch.utils.lazy_exports import lazy_exports

__all__ = [
    "MANIFEST_FILE",
    "SHARDS_FORMAT",
    "ShardSetError",
    "iter_embedding_batches",
    "partition_of",
    "read_embeddings",
    "read_manifest",
    "write_embedding_shards",
    "DocumentEncoderHandler",
    "EncodeDocuments",
    "encode_corpus",
]

# Apache Beam is imported only when its names are used (reading a shard set does not need it).
__getattr__, __dir__ = lazy_exports(__name__, __all__, {
    "tfsearch.embeddings.document_encoder_handler": ("DocumentEncoderHandler",),
    "tfsearch.embeddings.beam_encoding": ("EncodeDocuments", "encode_corpus"),
})
