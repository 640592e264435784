"""Encoding a corpus on Apache Beam: documents in, a shard set of embeddings out (`tfsearch encode`).

The pipeline reads BEIR corpus files (a BEIR folder's `corpus.jsonl`, or a
glob of JSONL shards in the same format), spreads the documents over the
workers, embeds them with `RunInference` and `DocumentEncoderHandler`, and
writes TFRecord shards of `(id, embedding)` (`embedding_shards`' format).
The same pipeline runs on the DirectRunner (the default, in-process, or
multi-process with `--direct_num_workers N --direct_running_mode
multi_processing`) and on Dataflow, Flink or Spark through Beam's own
pipeline options.

Reading: each corpus file is read whole by one worker with
`tfsearch.data.beir.iter_corpus` (the validation and `path:line` errors of
every tfsearch reader; the text is `Document.contents()`, as in-process
encoding joins title and text), then the documents are reshuffled over the
workers; a glob of many shards reads in parallel. Ids must be unique across
files too (`read_embeddings` refuses a set with a repeated id).

Commit: for a local output the pipeline writes into a hidden temporary
sibling folder that is renamed to `output` only after the pipeline finished
and the manifest is written (`tfsearch.utils.atomic.atomic_directory`): an
interrupted or failed run leaves no `output` at all. Object stores (`gs://`,
`s3://`) have no folder rename, so there the shards go straight into
`output` and `manifest.json`, written last after the pipeline succeeded, is
the commit: readers (`read_manifest`) open only a folder with a manifest, and
only the shards it lists. An older manifest is removed before a run
overwrites the folder.

Progress: with a local output, each worker process counts the documents it
embedded into its own small file in the staging folder, and a thread in
the driver sums them every couple of seconds (documents done, documents/s).
Beam's metrics are not used for this: the DirectRunner's `run()` blocks, and
its metrics are only readable once the pipeline is done.
"""

import contextlib
import glob
import json
import logging
import os
import posixpath
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from tfsearch.data.beir import BeirDataset, BeirFormatError, iter_corpus
from tfsearch.embeddings.document_encoder_handler import DocumentEncoderHandler, resolve_encoder_dtype
from tfsearch.embeddings.embedding_shards import (
    MANIFEST_FILE, SHARD_SUFFIX, describe_shards, make_manifest, manifest_path, serialize_embedding,
    write_manifest)

SHARD_PREFIX = "embeddings"
_STAGING = ".tfsearch-encode"  # small files of a run (counts, shard names, progress), removed before the commit
_PROGRESS_SECONDS = 2.0

logger = logging.getLogger("tfsearch")


def is_local(path):
    """Whether `path` is on this machine's file system (no `scheme://`)."""
    return "://" not in str(path)


def corpus_files(data):
    """The corpus files of `data`: a BEIR folder's `corpus.jsonl`, or the files a glob matches, sorted.

    Args:
        data: str. A BEIR folder (e.g. downloaded with `download_beir`), or a
            glob of JSONL files in BEIR's corpus format (`_id`, `title`,
            `text`), local or on any file system Beam reads (`gs://...`).

    Returns:
        list of str.

    Raises:
        BeirFormatError: a folder that is not a BEIR folder.
        FileNotFoundError: a glob that matches no file.
    """
    data = str(data)
    if is_local(data) and os.path.isdir(data):
        return [str(BeirDataset(data).corpus_path)]
    if is_local(data):
        files = sorted(f for f in glob.glob(data) if os.path.isfile(f))
    else:
        from apache_beam.io.filesystems import FileSystems

        files = sorted(m.path for result in FileSystems.match([data]) for m in result.metadata_list)
    if not files:
        raise FileNotFoundError(f"`--data` {data} is neither a BEIR folder nor a glob that matches a file; pass a "
                                "folder with corpus.jsonl or a pattern such as 'shards/corpus-*.jsonl'.")
    return files


def check_corpus_files(files):
    """Reads the first document of each local file (cheap), so that a wrong input fails before the pipeline.

    Returns:
        int or None: the non-blank lines of the local files (the documents,
        for the progress report), or None when some file is not local.

    Raises:
        BeirFormatError: a file whose first document is malformed, or which holds none.
    """
    total = 0
    for path in files:
        if not is_local(path):
            return None
        if next(iter_corpus(path), None) is None:
            raise BeirFormatError("holds no documents; every line must be a BEIR corpus entry "
                                  '({"_id": ..., "title": ..., "text": ...})', path)
        with open(path, "rb") as f:
            total += sum(1 for line in f if line.strip())
    return total


def read_documents(path):
    """Yields `(doc_id, text)` of a corpus file, validated line by line; the text as in-process encoding joins it.

    The text is `Document.contents()` (title and body joined by a space), as
    `tfsearch.data.pipelines.corpus_dataset` gives it to the in-process
    encoder. A file on another file system is first copied to a local
    temporary file. A malformed line raises `BeirFormatError` ("path:line:
    problem"), which fails the pipeline.
    """
    with _local_copy(path) as local:
        try:
            for doc in iter_corpus(local):
                yield doc.id, doc.contents()
        except BeirFormatError as e:
            if local == path:
                raise
            raise BeirFormatError(e.problem, path, e.line, e.field) from None


@contextlib.contextmanager
def _local_copy(path):
    if is_local(path):
        yield path
        return
    from apache_beam.io.filesystems import FileSystems

    fd, local = tempfile.mkstemp(suffix=".jsonl")
    try:
        with os.fdopen(fd, "wb") as out, FileSystems.open(path) as source:
            shutil.copyfileobj(source, out, 1 << 20)
        yield local
    finally:
        os.unlink(local)


class EncodeDocuments(beam.PTransform):
    """Embeds a PCollection of `(doc_id, text)` into `(doc_id, float32 vector [dim])` with `RunInference`.

    Reads and writes nothing: the elements are embedded by
    `DocumentEncoderHandler` (length-sorted forward passes, each worker with
    its own model copy) and keyed by their ids, which stay matched to their
    texts' embeddings. Put a `beam.Reshuffle()` before it when the documents
    come from few files, so that every worker gets some.

    Args:
        handler: `DocumentEncoderHandler`, or None to build one from `**settings`.
        **settings: `DocumentEncoderHandler`'s arguments (`model`, `export`,
            `batch_size`, `max_length`, `dtype`, ...).

    Example:
    ```python
    with beam.Pipeline() as p:
        vectors = (p | beam.Create([("d1", "Dips in starlight reveal planets.")])
                     | EncodeDocuments(model="models/scifact"))  # ("d1", float32 [384])
    ```
    """

    def __init__(self, handler=None, **settings):
        super().__init__()
        if handler is not None and settings:
            raise ValueError("Give a `handler` or its settings, not both.")
        self.handler = handler if handler is not None else DocumentEncoderHandler(**settings)

    def expand(self, documents):
        return documents | "RunInference" >> RunInference(KeyedModelHandler(self.handler))


class _ReportProgress(beam.DoFn):
    """Passes elements through; every process counts them into its own file in `folder` (at most twice a second)."""

    def __init__(self, folder):
        self.folder = folder

    def setup(self):
        os.makedirs(self.folder, exist_ok=True)
        self._path = os.path.join(self.folder, f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self._count, self._written = 0, 0.0

    def process(self, element):
        self._count += 1
        if time.monotonic() - self._written > 0.5:
            self._write()
        yield element

    def finish_bundle(self):
        self._write()

    def _write(self):
        tmp = self._path + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(self._count))
        os.replace(tmp, self._path)
        self._written = time.monotonic()


def _documents_done(folder):
    done = 0
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        if not name.endswith(".tmp"):
            with contextlib.suppress(OSError, ValueError):
                with open(os.path.join(folder, name)) as f:
                    done += int(f.read() or 0)
    return done


@contextlib.contextmanager
def _progress_printer(folder, total):
    """A driver thread that shows the documents the workers report in `folder` (tqdm bar: done, documents/s)."""
    from tqdm.auto import tqdm

    stop = threading.Event()
    bar = tqdm(total=total, unit="doc", desc="encoding corpus", dynamic_ncols=True)

    def watch():
        while not stop.wait(_PROGRESS_SECONDS):
            bar.update(max(0, _documents_done(folder) - bar.n))

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.update(max(0, _documents_done(folder) - bar.n))
        bar.close()


class _CountAndDim(beam.CombineFn):
    """`(count, smallest dim, largest dim)` of the embeddings."""

    def create_accumulator(self):
        return 0, None, None

    def add_input(self, accumulator, dim):
        count, low, high = accumulator
        return count + 1, dim if low is None else min(low, dim), dim if high is None else max(high, dim)

    def merge_accumulators(self, accumulators):
        count, low, high = 0, None, None
        for c, lo, hi in accumulators:
            count += c
            low = lo if low is None else (low if lo is None else min(low, lo))
            high = hi if high is None else (high if hi is None else max(high, hi))
        return count, low, high

    def extract_output(self, accumulator):
        return json.dumps(dict(zip(("count", "min_dim", "max_dim"), accumulator)))


def _read_text(pattern):
    import tensorflow as tf

    lines = []
    for path in sorted(tf.io.gfile.glob(pattern)):
        with tf.io.gfile.GFile(path) as f:
            lines.extend(line for line in f.read().splitlines() if line)
    return lines


def build_pipeline(pipeline, files, folder, handler, staging, num_shards=0, progress_folder=None):
    """Adds the encoding steps to `pipeline`: read `files`, embed, write shards into `folder`, stats into `staging`.

    Writes `folder/embeddings-SSSSS-of-NNNNN.tfrecord` (`num_shards` 0: as the
    runner chooses), `staging/stats*` (one JSON line: count and dimensions)
    and `staging/shards*` (the shard paths, one a line).
    """
    embeddings = (
        pipeline
        | "CorpusFiles" >> beam.Create(files)
        | "SpreadFiles" >> beam.Reshuffle()
        | "ReadDocuments" >> beam.FlatMap(read_documents)
        | "SpreadDocuments" >> beam.Reshuffle()
        | "Encode" >> EncodeDocuments(handler)
    )
    if progress_folder is not None:
        embeddings = embeddings | "Progress" >> beam.ParDo(_ReportProgress(progress_folder))
    written = (
        embeddings
        | "Serialize" >> beam.MapTuple(serialize_embedding)
        | "WriteShards" >> beam.io.WriteToTFRecord(posixpath.join(folder, SHARD_PREFIX), file_name_suffix=SHARD_SUFFIX,
                                                   num_shards=num_shards)
    )
    (embeddings
     | "Dims" >> beam.MapTuple(lambda _, vector: len(vector))
     | "CountAndDim" >> beam.CombineGlobally(_CountAndDim())
     | "WriteStats" >> beam.io.WriteToText(posixpath.join(staging, "stats"), num_shards=1))
    (written | "WriteShardNames" >> beam.io.WriteToText(posixpath.join(staging, "shards"), num_shards=1))
    return embeddings


def export_fingerprint(export):
    """The encoder fingerprint an export records, or None.

    Looked up in the version's `tfsearch_export.json` (`encoder_fingerprint`,
    at the top or in `metadata`), then in the `index.json` of the index it
    was exported from (`metadata.index`), where that folder is still there.
    """
    info_path = os.path.join(str(export), "tfsearch_export.json")
    if not os.path.isfile(info_path):
        return None
    with open(info_path) as f:
        info = json.load(f)
    metadata = info.get("metadata") or {}
    found = info.get("encoder_fingerprint") or metadata.get("encoder_fingerprint")
    if found is None and metadata.get("index") and os.path.isfile(os.path.join(metadata["index"], "index.json")):
        from tfsearch.index.index_files import read_index_meta

        with contextlib.suppress(Exception):
            found = read_index_meta(metadata["index"]).get("metadata", {}).get("encoder_fingerprint")
    return found


def _check_output(output, overwrite):
    import tensorflow as tf

    output = str(output)
    if is_local(output):
        if os.path.exists(output) and not overwrite:
            raise FileExistsError(f"`--output` {output} already exists; choose another path or pass --overwrite.")
    elif tf.io.gfile.exists(manifest_path(output)) and not overwrite:
        raise FileExistsError(f"`--output` {output} already holds a shard set ({MANIFEST_FILE}); choose another "
                              "path or pass --overwrite.")


def encode_corpus(data, output, model=None, export=None, batch_size=64, max_length=None, precision="auto",
                  pipeline_args=(), num_shards=0, progress=True, overwrite=False):
    """Encodes a corpus on Apache Beam into a shard set (TFRecord shards and `manifest.json`), committed atomically.

    Checks cheaply before launching (the output, the input files and the
    first document of each local file, the model) and writes nothing on bad
    input. The encoder's fingerprint (`model_fingerprint`, or the one an
    export records) goes into the manifest, so that an index built from the
    shards refuses queries embedded by another encoder.

    Args:
        data: str. A BEIR folder or a glob of BEIR-format JSONL files (see `corpus_files`).
        output: str. The shard-set folder to create (local or e.g. `gs://...`).
        model: str or None. Encoder folder or preset (None: all-MiniLM-L6-v2). Exclusive with `export`.
        export: str or None. A `tfsearch export` version folder, whose `encode_document` embeds the texts.
        batch_size: int. Texts per forward pass.
        max_length: int or None. Tokens per text (`model` only; None: the checkpoint's).
        precision: `"auto"`, `"float32"` or `"bfloat16"` (`model` only; decided here, on the driver, for
            every worker).
        pipeline_args: sequence of str. Beam pipeline options, e.g. `["--direct_num_workers", "2",
            "--direct_running_mode", "multi_processing"]` or `["--runner", "DataflowRunner", ...]`.
        num_shards: int. Shards to write; 0 lets the runner choose.
        progress: bool. Show documents done and documents/s while it runs (local outputs).
        overwrite: bool. Replace an existing output.

    Returns:
        The manifest (dict, as `read_manifest` returns it): `count`, `embedding_dim`,
        `encoder_fingerprint`, `model`, `export`, `max_length`, `precision`, `source`, `pipeline`,
        `seconds`, `shards`, ...

    Raises:
        FileExistsError: `output` exists and `overwrite` is False.
        FileNotFoundError, BeirFormatError: unreadable or malformed input (before the pipeline, or from
            the pipeline for a malformed line further down; nothing is committed).
        ValueError: conflicting settings.

    Example:
    ```python
    manifest = encode_corpus("path/to/scifact", "emb/scifact", pipeline_args=[
        "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"])
    manifest["count"], manifest["embedding_dim"]  # (5183, 384)
    ```
    """
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from tfsearch.utils.atomic import atomic_directory

    if num_shards < 0:
        raise ValueError(f"`num_shards` must be 0 (the runner chooses) or positive, got {num_shards}.")
    if model is not None and export is not None:
        raise ValueError("Give `--model` (an encoder) or `--export` (a SavedModel version folder), not both.")
    output = str(output)
    _check_output(output, overwrite)
    files = corpus_files(data)
    total = check_corpus_files(files)
    pipeline_args = list(pipeline_args)
    if not any(a.startswith("--default_sdk_harness_log_level") for a in pipeline_args):
        pipeline_args += ["--default_sdk_harness_log_level=WARNING"]  # workers' INFO logs drown the progress
    options = PipelineOptions(pipeline_args)
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    if "dataflow" in runner.lower() and (is_local(output) or is_local(files[0])):
        raise ValueError(f"{runner} workers cannot read or write this machine's files: pass `--data` and `--output` "
                         "on Cloud Storage (gs://...).")
    settings = {"model": model, "export": None if export is None else str(export), "max_length": max_length,
                "source": str(data), "pipeline": {"runner": runner, "args": pipeline_args}}
    if export is not None:
        if not os.path.isdir(str(export)) and is_local(export):
            raise FileNotFoundError(f"`--export` {export} is not a folder; pass a SavedModel version folder "
                                    "written by `tfsearch export`, e.g. saved_models/NAME/1.")
        handler = DocumentEncoderHandler(export=export, batch_size=batch_size, max_length=max_length)
        fingerprint, settings["precision"] = export_fingerprint(export), "as exported"
        if fingerprint is None:
            logger.warning("%s records no encoder fingerprint (nor does the index it was exported from): the "
                           "manifest's encoder_fingerprint is null, and indexes built from it cannot check "
                           "their queries' encoder.", export)
    else:
        from tfsearch.models.bert_encoder import BertEncoder
        from tfsearch.models.fingerprint import model_fingerprint

        dtype = resolve_encoder_dtype(precision)
        encoder = BertEncoder.from_pretrained(model, sequence_length=max_length, dtype=dtype)
        fingerprint, settings["precision"] = model_fingerprint(encoder), encoder.backbone.compute_dtype
        del encoder
        handler = DocumentEncoderHandler(model=model, batch_size=batch_size, max_length=max_length, dtype=dtype)

    def run(folder, staging):
        progress_folder = os.path.join(staging, "progress") if progress and is_local(staging) else None
        started = time.monotonic()
        printer = _progress_printer(progress_folder, total) if progress_folder else contextlib.nullcontext()
        with printer:
            pipeline = beam.Pipeline(options=options)
            build_pipeline(pipeline, files, folder, handler, staging, num_shards, progress_folder)
            try:
                pipeline.run().wait_until_finish()
            except Exception as e:
                raise _pipeline_error(e) from e
        seconds = time.monotonic() - started
        stats = json.loads(_read_text(posixpath.join(staging, "stats*"))[0])
        if stats["min_dim"] != stats["max_dim"]:
            raise ValueError(f"The encoder gave embeddings of {stats['min_dim']} and {stats['max_dim']} floats; "
                             "a shard set holds one dimension.")
        names = sorted(posixpath.relpath(p, folder) if is_local(folder) else p[len(folder.rstrip("/")) + 1:]
                       for p in _read_text(posixpath.join(staging, "shards*")))
        manifest = make_manifest(stats["count"], stats["max_dim"] or 0, describe_shards(folder, names), fingerprint,
                                 **settings, seconds=round(seconds, 2))
        _remove(staging)
        write_manifest(folder, manifest)
        return manifest

    if is_local(output):
        with atomic_directory(output, overwrite=overwrite) as tmp:
            run(str(tmp), str(tmp / _STAGING))
    else:
        import tensorflow as tf

        if tf.io.gfile.exists(manifest_path(output)):
            tf.io.gfile.remove(manifest_path(output))  # the old set is no longer committed
        staging = posixpath.join(output.rstrip("/"), f"{_STAGING}-{uuid.uuid4().hex[:8]}")
        try:
            run(output.rstrip("/"), staging)
        finally:
            _remove(staging)
    from tfsearch.embeddings.embedding_shards import read_manifest

    return read_manifest(output)


def _pipeline_error(error):
    """A failed pipeline's error: the data problem a worker met, in one line, or the runner's own error.

    The in-process runner re-raises the worker's `BeirFormatError` with Beam's
    step name appended; the multi-process one raises a RuntimeError holding
    the worker's traceback.
    """
    if isinstance(error, BeirFormatError):
        problem = re.sub(r"^<input>: ", "", str(error))
    else:
        match = re.search(r"BeirFormatError: (.+)", str(error))
        if not match:
            return error
        problem = match.group(1)
    problem = re.sub(r" \[while running '[^']*'\]", "", problem).strip()
    return ValueError(f"{problem} (the pipeline stopped; nothing was written)")


def _remove(folder):
    import tensorflow as tf

    if tf.io.gfile.exists(folder):
        tf.io.gfile.rmtree(folder)
