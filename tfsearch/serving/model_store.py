"""Serves the newest complete version of an exported model; loads and warms up newer ones before switching."""

import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import sys
import threading
import time

import numpy as np
import tensorflow as tf

from tfsearch.export.saved_model_export import (
    ASSETS_EXTRA_DIR,
    BATCHABLE_SIGNATURE,
    DEFAULT_BATCHING_PARAMETERS,
    DEFAULT_WARMUP_QUERY,
    SAVED_MODEL_FILE,
    TITLES_FILE,
    VARIABLES_INDEX_FILE,
    WARMUP_FILE,
    read_export_info,
    read_warmup_requests,
    signature_defaults,
    version_files,
    version_identity,
    version_is_complete,
    versions,
)
from tfsearch.export.search_module import DEFAULT_DIVERSITY, DEFAULT_MAX_K, default_k
from tfsearch.serving.saved_model_session import SavedModelSession

logger = logging.getLogger("tfsearch.serving")

# `search_batchable` is called once at each of these batch sizes before a
# version is served, so that the first real batches pay no first-run costs:
# the sizes a batching server forms (TensorFlow Serving pads to them).
WARMUP_BATCH_SIZES = tuple(DEFAULT_BATCHING_PARAMETERS["allowed_batch_sizes"])
LOADING_SWITCH_INTERVAL_SECONDS = 0.0005  # Python's thread switch interval while a version loads (default 5 ms)
# A SavedModel without tfsearch's file list found at start-up is loaded once
# its files have not changed for this long (later, between two polls).
STARTUP_QUIET_SECONDS = 1.0
# The watching thread's nice value (Linux): loading and warming up a version
# yield the CPU to the threads answering requests.
WATCH_NICENESS = 10
# TensorFlow Serving's version states (`ModelVersionStatus.State`).
AVAILABLE = "AVAILABLE"
LOADING = "LOADING"
_OK = {"error_code": "OK", "error_message": ""}


@dataclasses.dataclass
class LoadedVersion:
    """One loaded SavedModel version and what the server needs from it.

    `model` is the version's `SavedModelSession` (its signatures called
    with NumPy inputs, answering NumPy outputs); `identity` is the
    `version_identity` of the folder it was loaded from (a republished
    version number has another). `load_seconds` and `warmup_seconds` are
    how long its load (the session, its variables and tables) and its
    warm-up took, set by the `ModelStore` before it serves the version.
    """

    version: int
    model: object
    info: dict
    titles: dict
    defaults: dict = dataclasses.field(default_factory=dict)  # {signature: {input: value}}, as TF Serving fills them
    identity: object = None
    load_seconds: float = None
    warmup_seconds: float = None

    @property
    def signature_defs(self):
        """`{signature name: SignatureDef proto}` of the version's MetaGraph (what TensorFlow Serving's model
        metadata answers)."""
        return self.model.signature_defs

    def signature(self, name):
        return self.model.signatures[name]

    def has_signature(self, name):
        return name in self.model.signatures

    @property
    def max_k(self):
        """The largest `k` a request may ask for: the export's `max_k` (its metadata).

        A version without metadata (not written by `export_search_model`)
        gets `DEFAULT_MAX_K`, the export's default; its graph still refuses
        a larger `k` than it was exported with.
        """
        return int(self.info.get("max_k", DEFAULT_MAX_K))

    def request_defaults(self, signature_name):
        """`{"k": int, "diversity": float}` for a request to `signature_name` that leaves them out.

        The values the export decided: those of its metadata (`defaults`);
        for an older export without them, those of the SignatureDef's
        `defaults` (what TensorFlow Serving fills in); for one without
        either, the export's rule (`default_k(max_k)`, `DEFAULT_DIVERSITY`).
        """
        written, stored = self.info.get("defaults", {}), self.defaults.get(signature_name, {})
        return {"k": written.get("k", stored.get("k", default_k(self.max_k))),
                "diversity": written.get("diversity", stored.get("diversity", DEFAULT_DIVERSITY))}


def warm_up(loaded, folder, batched_signatures=()):
    """Runs a loaded version's warm-up requests, as TensorFlow Serving does before a version is available.

    Replays `assets.extra/tf_serving_warmup_requests` (each record calls
    the signature it names with its inputs), then, if the version has
    `search_batchable`, calls it once at each of `WARMUP_BATCH_SIZES` with
    the warm-up query repeated, the export's default `k` and diversity 0;
    then every other signature whose inputs are text or have defaults
    (`search`, `encode_query`, ...) once with the warm-up query: a
    signature's first call builds its executor (2 to 3 s for a BERT
    export), which no request should wait for.

    The signatures in `batched_signatures` are those whose requests the
    server answers through `search_batchable` (request batching): where
    the version has it, their records are replayed as the batcher sends
    them (a `k` and a diversity per query) and they are not called
    themselves, since no request would use their executors.

    Args:
        loaded: `LoadedVersion`.
        folder: the version's folder.
        batched_signatures: names of signatures answered through
            `search_batchable` (`search_service.batched_signatures`);
            default none.

    Returns:
        int: the number of calls made.

    Raises:
        ValueError: a warm-up request names a signature the version lacks,
            or the file is not one of `PredictionLog`s; any error of a call.
    """
    path = pathlib.Path(folder) / ASSETS_EXTRA_DIR / WARMUP_FILE
    requests = read_warmup_requests(path) if path.is_file() else []
    query = DEFAULT_WARMUP_QUERY
    batched = set(batched_signatures) if loaded.has_signature(BATCHABLE_SIGNATURE) else set()
    for number, (name, inputs) in enumerate(requests, start=1):
        if not loaded.has_signature(name):
            raise ValueError(f"{path}: warm-up request {number} calls signature {name!r}, which version "
                             f"{loaded.version} does not have (it has {sorted(loaded.model.signatures)}); "
                             f"export the version again or rewrite the file with `write_warmup_requests`.")
        if name in batched:
            loaded.signature(BATCHABLE_SIGNATURE)(**_batchable_inputs(loaded, name, inputs))
        else:
            loaded.signature(name)(**inputs)
        texts = inputs.get("queries")
        if number == 1 and texts is not None and texts.size:
            query = texts.reshape(-1)[0]
    calls, called = len(requests), {name for name, _ in requests} | batched
    if loaded.has_signature(BATCHABLE_SIGNATURE):
        k = loaded.request_defaults(BATCHABLE_SIGNATURE)["k"]
        for size in WARMUP_BATCH_SIZES:
            loaded.signature(BATCHABLE_SIGNATURE)(
                queries=np.array([query] * size, object), k=np.full(size, k, np.int32),
                diversity=np.full(size, DEFAULT_DIVERSITY, np.float32))
        calls += len(WARMUP_BATCH_SIZES)
        called.add(BATCHABLE_SIGNATURE)
    for name in sorted(set(loaded.model.signatures) - called):  # each signature's first call builds its executor
        inputs = _text_only_inputs(loaded.signature_defs[name], query)
        if inputs is not None:
            loaded.signature(name)(**inputs)
            calls += 1
    return calls


def _batchable_inputs(loaded, signature_name, inputs):
    """A search request's inputs (a `k` and a diversity for all its queries) as the request batcher hands them to
    `search_batchable`: one of each per query, the signature's defaults where the request leaves them out."""
    queries = np.asarray(inputs["queries"], object).reshape(-1)
    defaults = loaded.request_defaults(signature_name)
    k, diversity = (np.asarray(inputs.get(key, defaults[key])).item() for key in ("k", "diversity"))
    return {"queries": queries, "k": np.full(len(queries), k, np.int32),
            "diversity": np.full(len(queries), diversity, np.float32)}


def _text_only_inputs(signature_def, text):
    """`{alias: text}` (shaped as each string input) when every other input has a default; else None."""
    inputs = {}
    for alias, info in signature_def.inputs.items():
        if info.dtype == tf.string.as_datatype_enum:
            rank = 1 if info.tensor_shape.unknown_rank else len(info.tensor_shape.dim)
            inputs[alias] = np.full([1] * rank, text, object)  # one text, as a scalar or a batch of one
        elif alias not in signature_def.defaults:
            return None
    return inputs


def _lower_thread_priority():
    """Lowers the calling thread's CPU priority (Linux; elsewhere, or if refused, nothing happens)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WATCH_NICENESS)
    except (AttributeError, OSError):
        pass


class ModelStore:
    """Serves the highest complete version under `base_path`, as TensorFlow Serving does.

    Each poll (a background thread every `poll_seconds`, or `refresh()`)
    looks at the version folders. Only complete ones count
    (`version_is_complete`: a folder still being copied in is skipped and
    looked at again next poll). When a higher complete version appears, or
    the served version's folder disappears or is replaced (another
    `export_id`: a deleted-then-republished version), the best other
    complete version is loaded (a `SavedModelSession`, as TensorFlow
    Serving loads it) and warmed up (`warm_up`) while the current one
    keeps answering, and only then swapped in: a request holds the
    `LoadedVersion` it started with, so requests in flight finish on the old
    version. A version whose load or warm-up fails is logged once (and
    added to `errors`) and not tried again until its folder holds another
    export; the current version keeps serving. If the served version's
    folder is gone and no other version can be served, it keeps serving
    from memory and an error is logged once.

    Args:
        base_path: the model's folder (`saved_models/NAME`).
        poll_seconds: float, or None for no watching.
        quiet_seconds: at start-up with no tfsearch export complete, how
            long a SavedModel written otherwise must stay unchanged before
            it is loaded (default `STARTUP_QUIET_SECONDS`).
        batched_signatures: the signatures whose requests the server
            answers through `search_batchable` (`warm_up`: not warmed up
            themselves); `search_service.batched_signatures(max_batch_size)`
            for a `SearchService`'s request batching; default none.

    Raises:
        FileNotFoundError: no complete version under `base_path`.
        Exception: that of the last failed load, when every complete
            version failed to load.
    """

    def __init__(self, base_path, poll_seconds=1.0, quiet_seconds=STARTUP_QUIET_SECONDS, batched_signatures=()):
        self.base_path = pathlib.Path(base_path)
        self.batched_signatures = tuple(batched_signatures)
        self.errors = []
        self._current = None
        self._loading = None
        self._listings = {}  # {version: version_files} at the last poll (the quiet period of foreign SavedModels)
        self._failed = set()  # {(version, identity)} that failed: tried again once the folder holds another export
        self._last_failure = None
        self._orphaned = False  # the served version's folder is gone and nothing else is servable (logged once)
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.refresh()
        if self._current is None and self._listings and not self._failed:
            time.sleep(quiet_seconds)  # a SavedModel from elsewhere is complete once nothing changed meanwhile
            self.refresh()
        if self._current is None:
            if self._last_failure is not None:
                raise self._last_failure
            found = versions(self.base_path)
            if not found:
                raise FileNotFoundError(
                    f"{self.base_path} holds no version folder (export one with `tfsearch export`).")
            raise FileNotFoundError(
                f"{self.base_path} holds version folders {found}, but none is complete: a tfsearch export is "
                f"complete once every file its tfsearch_export.json lists is there with its size, another "
                f"SavedModel once {SAVED_MODEL_FILE} and {VARIABLES_INDEX_FILE} are there and its files stay "
                f"unchanged for {quiet_seconds} s. Finish copying a version (or export one with `tfsearch "
                f"export`) and start again.")
        if poll_seconds:
            self._thread = threading.Thread(target=self._watch, args=(poll_seconds,), daemon=True,
                                            name="tfsearch-model-store")
            self._thread.start()

    @property
    def current(self):
        return self._current

    def status(self):
        """The versions' states in TensorFlow Serving's shape (`GetModelStatus`, `GET /v1/models/NAME`).

        Returns:
            list of `{"version": str, "state": "AVAILABLE" | "LOADING",
            "status": {"error_code": "OK", "error_message": ""}}`: the
            version served, then the one being loaded and warmed up, if any.
        """
        current, loading = self._current, self._loading
        states = [(current.version, AVAILABLE)] if current is not None else []
        if loading is not None:
            states.append((loading, LOADING))
        return [{"version": str(version), "state": state, "status": dict(_OK)} for version, state in states]

    def refresh(self):
        """Polls once: loads, warms up and switches to a better version if there is one.

        Synchronous (the watching thread calls it too; calls wait for each
        other).

        Returns:
            int: the version served (None only before the first one).
        """
        with self._refresh_lock:
            self._poll()
        return self._current.version if self._current is not None else None

    def _folder(self, version):
        return self.base_path / str(version)

    def _complete_versions(self):
        """`[(version, identity)]` of the complete version folders, ascending; records this poll's listings."""
        found = versions(self.base_path)
        listings, complete = {}, []
        for version in found:
            folder = self._folder(version)
            if version_is_complete(folder, self._listings.get(version)):
                complete.append((version, version_identity(folder)))
            listings[version] = version_files(folder)
        self._listings = listings
        self._failed = {failed for failed in self._failed if failed[0] in listings}
        return complete

    def _poll(self):
        current = self._current
        for version, identity in reversed(self._complete_versions()):
            if current is not None and (version, identity) == (current.version, current.identity):
                self._orphaned = False
                return  # the served version is still the best
            if (version, identity) in self._failed:
                continue
            if self._load_and_switch(version, identity):
                return
        if current is not None and not self._orphaned:
            self._orphaned = True
            self._report(logging.ERROR, f"version {current.version}: its folder {self._folder(current.version)} is "
                                        f"gone, incomplete or holds another export that failed to load, and no "
                                        f"other complete version could be loaded; still serving version "
                                        f"{current.version} from memory (export a new version).")

    def _load_and_switch(self, version, identity):
        """Loads and warms up `version`, then serves it; False (logged) if that failed."""
        previous = self._current
        self._loading = version
        try:
            with _short_gil_slices():
                started = time.monotonic()
                loaded = self._load(version, identity)
                warming = time.monotonic()
                calls = warm_up(loaded, self._folder(version), self.batched_signatures)
                loaded.load_seconds, loaded.warmup_seconds = warming - started, time.monotonic() - warming
        except Exception as e:  # a broken version is reported, the current one keeps serving
            self._failed.add((version, identity))
            self._last_failure = e
            serving = f"still serving version {previous.version}" if previous is not None else "nothing served yet"
            self._report(logging.WARNING, f"version {version}: {type(e).__name__}: {e} (not loaded, {serving}; "
                                          f"it is tried again once its folder holds another export).")
            return False
        finally:
            self._loading = None
        self._current = loaded
        self._orphaned = False
        logger.info("serving version %s (was %s), loaded in %.1f s, warmed up in %.1f s with %d requests", version,
                    previous.version if previous is not None else "none", loaded.load_seconds,
                    loaded.warmup_seconds, calls)
        return True

    def _report(self, level, message):
        self.errors.append(message)
        logger.log(level, "%s: %s", self.base_path, message)

    def _load(self, version, identity):
        folder = self._folder(version)
        model = SavedModelSession(folder)
        info = read_export_info(folder) or {}
        titles_path = folder / ASSETS_EXTRA_DIR / TITLES_FILE
        titles = json.loads(titles_path.read_text()) if titles_path.is_file() else {}
        return LoadedVersion(version, model, info, titles, signature_defaults(folder, model.signature_defs),
                             identity=identity)

    def _watch(self, poll_seconds):
        _lower_thread_priority()
        last_error = None
        while not self._stop.wait(poll_seconds):
            try:
                self.refresh()
                last_error = None
            except Exception as e:  # e.g. the base path unreadable: the watching goes on, logged once
                if str(e) != last_error:
                    last_error = str(e)
                    logger.error("%s: polling failed: %s: %s", self.base_path, type(e).__name__, e)

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextlib.contextmanager
def _short_gil_slices(seconds=LOADING_SWITCH_INTERVAL_SECONDS):
    """Python's thread switch interval cut to `seconds` while a version loads, then restored.

    The Python parts of loading and warming up a version (the graph's
    Python objects, the warm-up requests) hold the GIL for whole 5 ms slices
    (Python's default), so each of a request's hand-offs between the event
    loop, the handlers and the batcher waits up to a slice. Shorter slices
    let them through.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
