"""In-graph text processing."""

from tfsearch.text.wordpiece_tokenizer import WordPieceTokenizer, read_vocabulary

__all__ = ["WordPieceTokenizer", "read_vocabulary"]
