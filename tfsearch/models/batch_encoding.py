"""Encoding many texts fast: length-aware batching over a `tf.data` stream.

Texts are read in windows of `window_size`, tokenised in-graph, sorted by token
length inside the window and cut into batches, each padded only to its own
longest text. On a corpus with mixed lengths this computes far less padding
than fixed-length batches, and the output order is restored by id.
"""

import collections
import contextlib
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tfsearch.data.pipelines import without_autotune
from tfsearch.utils.arguments import check_integer
from tfsearch.utils.cpu_threads import encoding_concurrency

# Batches are padded to a multiple of this many tokens, so that a compiled
# (XLA) encoder sees at most sequence_length / PAD_MULTIPLE distinct shapes.
PAD_MULTIPLE = 16

# encoder -> {jit_compile: tf.function}: each encoder's graph is traced and optimised once per
# process (about 3 s on 2 cores), not once per `encode_dataset` call.
_ENCODE_FUNCTIONS = weakref.WeakKeyDictionary()


def encode_tokens_function(encoder, jit_compile=False):
    """`encoder.encode_tokens` as a `tf.function` over `[batch, seq]` tokens, traced once per encoder.

    Args:
        encoder: `BertEncoder` (anything with `encode_tokens(token_ids, padding_mask)`).
        jit_compile: bool. Compile with XLA.

    Returns:
        A `tf.function` taking `token_ids [b, s]` int32 and `padding_mask
        [b, s]` bool, returning `[b, embedding_dim]`. The same object for the
        same encoder and setting, so later calls reuse the traced, optimised
        graph; it holds the encoder weakly.
    """
    functions = _ENCODE_FUNCTIONS.setdefault(encoder, {})
    if jit_compile not in functions:
        encoder_ref = weakref.ref(encoder)  # the cache must not keep the encoder alive
        functions[jit_compile] = tf.function(
            lambda token_ids, padding_mask: encoder_ref().encode_tokens(token_ids, padding_mask),
            input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.bool)],
            jit_compile=jit_compile,
            reduce_retracing=True,
        )
    return functions[jit_compile]


def encode_in_length_chunks(encoder, texts, chunk_size):
    """Embeds a batch of texts in-graph, sorted by token length and encoded `chunk_size` at a time.

    The graph counterpart of `length_sorted_batches`, for a batch that
    arrives whole (a served request, or requests a server batched
    together): the tokeniser pads a batch to its longest text, and on
    SciFact's queries (22 tokens on average, up to 79) that padding is 1.6x
    the real tokens at 8 queries and 1.75x at 16 (`bench/encoding_chunks.py`).
    Here the texts are sorted by length and cut into chunks of
    `chunk_size`, each padded only to its own longest; the embeddings come
    back in the input order. A batch of at most `chunk_size` texts is
    encoded as it is. Each row's embedding is the one it gets on its own, up
    to float rounding (padding is masked).

    Args:
        encoder: `BertEncoder` (anything with a `tokenizer` giving
            `token_ids` and `padding_mask`, and `encode_tokens`).
        texts: string tensor `[batch]`.
        chunk_size: int >= 1. Texts per encoder call.

    Returns:
        float32 tensor `[batch, embedding_dim]`.

    Example:
    ```python
    encoder = BertEncoder.from_pretrained()
    texts = tf.constant(["a short query", "a much longer query about proteins", "dna"])
    embeddings = encode_in_length_chunks(encoder, texts, chunk_size=2)  # [3, 384], as encoder(texts)
    ```
    """
    chunk_size = check_integer(chunk_size, "chunk_size")
    tokens = encoder.tokenizer(texts)
    token_ids, padding_mask = tokens["token_ids"], tokens["padding_mask"]
    batch_size = tf.shape(token_ids)[0]

    def chunked():
        lengths = tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=1)
        order = tf.argsort(lengths, stable=True)
        sorted_ids, sorted_mask, sorted_lengths = (tf.gather(x, order) for x in (token_ids, padding_mask, lengths))
        num_chunks = (batch_size + chunk_size - 1) // chunk_size

        def body(i, embeddings):
            start = i * chunk_size
            end = tf.minimum(start + chunk_size, batch_size)
            longest = sorted_lengths[end - 1]  # ascending: the chunk's last is its longest
            chunk = encoder.encode_tokens(sorted_ids[start:end, :longest], sorted_mask[start:end, :longest])
            return i + 1, embeddings.write(i, chunk)

        embeddings = tf.TensorArray(tf.float32, size=num_chunks, infer_shape=False,
                                    element_shape=[None, encoder.embedding_dim])
        _, embeddings = tf.while_loop(lambda i, _: i < num_chunks, body, (tf.constant(0), embeddings))
        return tf.gather(embeddings.concat(), tf.math.invert_permutation(order))

    return tf.cond(batch_size <= chunk_size, lambda: encoder.encode_tokens(token_ids, padding_mask), chunked)


def length_sorted_batches(dataset, tokenizer, batch_size=64, window_size=2048):
    """Turns a stream of `(id, text)` into length-sorted, tightly padded batches.

    Args:
        dataset: `tf.data.Dataset` of scalar `(id, text)` strings.
        tokenizer: `WordPieceTokenizer`.
        batch_size: int. Texts per batch.
        window_size: int. Texts sorted together; bounds memory and latency.

    Returns:
        `tf.data.Dataset` of `(positions [b], ids [b], token_ids [b, seq],
        padding_mask [b, seq])`, where `positions` are the texts' int64 indices
        in the input stream; `tf.data` autotuning is off (see
        `tfsearch.data.pipelines.without_autotune`).
    """
    if batch_size <= 0 or window_size <= 0:
        raise ValueError("`batch_size` and `window_size` must be positive.")

    def tokenize_window(positions, ids, texts):
        tokens = tokenizer(texts)
        lengths = tf.reduce_sum(tf.cast(tokens["padding_mask"], tf.int32), axis=1)
        order = tf.argsort(lengths, direction="DESCENDING", stable=True)
        return (
            tf.gather(positions, order),
            tf.gather(ids, order),
            tf.gather(tokens["token_ids"], order),
            tf.gather(tokens["padding_mask"], order),
            tf.gather(lengths, order),
        )

    def trim(positions, ids, token_ids, padding_mask, lengths):
        longest = tf.reduce_max(lengths)
        padded = tf.minimum((longest + PAD_MULTIPLE - 1) // PAD_MULTIPLE * PAD_MULTIPLE, tf.shape(token_ids)[1])
        return positions, ids, token_ids[:, :padded], padding_mask[:, :padded]

    # Fixed buffers and parallelism: autotuning only adds a wait at the end of the loop (`without_autotune`).
    return without_autotune(
        dataset.enumerate()
        .map(lambda position, pair: (position, pair[0], pair[1]))
        .batch(window_size)
        .map(tokenize_window, num_parallel_calls=1)
        .prefetch(1)  # tokenise the next window while this one is encoded
        .flat_map(lambda *window: tf.data.Dataset.from_tensor_slices(window).batch(batch_size))
        .map(trim)
        .prefetch(2)
    )


def encode_dataset(encoder, dataset, batch_size=64, window_size=2048, total=None, progress=True, jit_compile=False,
                   description="encoding", num_parallel_batches=None):
    """Encodes a stream of `(id, text)` with length-aware batching.

    Args:
        encoder: `BertEncoder`.
        dataset: `tf.data.Dataset` of scalar `(id, text)` strings, e.g. from
            `tfsearch.data.pipelines.corpus_dataset`.
        batch_size: int. Texts per forward pass.
        window_size: int. Texts sorted by length together.
        total: int or None. Number of texts, for the progress bar.
        progress: bool. Show a progress bar.
        jit_compile: bool. Compile the encoder with XLA.
        description: str. Progress bar label.
        num_parallel_batches: int or None. Batches encoded side by side, each
            on its own Python thread; None for
            `tfsearch.utils.cpu_threads.encoding_concurrency()` (1 under
            TensorFlow's default threads, one per core with one intra-op thread).

    Returns:
        `(ids, embeddings)`: a list of str in input order and a float32 array
        `[num_texts, embedding_dim]`.

    Raises:
        ValueError: when two texts share an id.
    """
    if num_parallel_batches is None:
        num_parallel_batches = encoding_concurrency()
    check_integer(num_parallel_batches, "num_parallel_batches")
    encode = encode_tokens_function(encoder, jit_compile)
    positions, ids, chunks = [], [], []
    with tqdm(total=total, unit="text", desc=description, disable=not progress, dynamic_ncols=True) as bar, \
            contextlib.ExitStack() as stack:
        # One batch at a time runs on this thread (under the caller's device and strategy scopes); more run on
        # worker threads, one batch waiting while the others are encoded.
        pool = None if num_parallel_batches == 1 else stack.enter_context(
            ThreadPoolExecutor(num_parallel_batches, thread_name_prefix="tfsearch-encode"))
        in_flight = collections.deque()  # (positions, ids, embeddings or their future), in the batches' order

        def collect():
            batch_positions, batch_ids, result = in_flight.popleft()
            chunks.append(result if pool is None else result.result())
            positions.append(batch_positions.numpy())
            ids.extend(i.decode("utf-8") for i in batch_ids.numpy())
            bar.update(len(batch_ids))

        batches = length_sorted_batches(dataset, encoder.tokenizer, batch_size, window_size)
        for batch_positions, batch_ids, token_ids, padding_mask in batches:
            if pool is None:
                result = encode(token_ids, padding_mask).numpy()
            else:
                result = pool.submit(lambda t=token_ids, m=padding_mask: encode(t, m).numpy())
            in_flight.append((batch_positions, batch_ids, result))
            if len(in_flight) >= num_parallel_batches + (pool is not None):
                collect()
        while in_flight:
            collect()
    if not chunks:
        return [], np.zeros([0, encoder.embedding_dim], np.float32)
    # Batches come out length-sorted; put rows back in input order.
    order = np.argsort(np.concatenate(positions), kind="stable")
    ids = [ids[i] for i in order]
    if len(set(ids)) != len(ids):
        raise ValueError("Two texts share an id in the encoded stream; ids must be unique.")
    return ids, np.concatenate(chunks)[order]


def encode_texts(encoder, texts, batch_size=64, progress=False, description="encoding", jit_compile=False):
    """Encodes a list of texts, returning `[len(texts), embedding_dim]` in order."""
    from tfsearch.data.pipelines import texts_dataset

    ids = [str(i) for i in range(len(texts))]
    _, embeddings = encode_dataset(
        encoder, texts_dataset(ids, texts), batch_size=batch_size, total=len(texts), progress=progress,
        description=description, jit_compile=jit_compile,
    )
    return embeddings
