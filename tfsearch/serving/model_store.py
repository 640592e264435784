"""Loads the newest version of an exported model and switches to newer ones as they appear."""

import dataclasses
import json
import pathlib
import threading

import tensorflow as tf

from tfsearch.export.saved_model_export import EXPORT_INFO_FILE, TITLES_FILE, signature_defaults, versions
from tfsearch.export.search_module import DEFAULT_DIVERSITY, DEFAULT_MAX_K, default_k


@dataclasses.dataclass
class LoadedVersion:
    """One loaded SavedModel version and what the server needs from it."""

    version: int
    model: object
    info: dict
    titles: dict
    defaults: dict = dataclasses.field(default_factory=dict)  # {signature: {input: value}}, as TF Serving fills them

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


class ModelStore:
    """Serves the highest version under `base_path`, as TensorFlow Serving does.

    A background thread looks for a higher version every `poll_seconds`, loads
    it completely, then swaps it in: a request holds the `LoadedVersion` it
    started with, so requests in flight finish on the old version.

    Args:
        base_path: the model's folder (`saved_models/NAME`).
        poll_seconds: float, or None for no watching.
    """

    def __init__(self, base_path, poll_seconds=1.0):
        self.base_path = pathlib.Path(base_path)
        found = versions(self.base_path)
        if not found:
            raise FileNotFoundError(f"{self.base_path} holds no version folder (export one with `tfsearch export`).")
        self._current = self._load(found[-1])
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.errors = []
        self._thread = None
        if poll_seconds:
            self._thread = threading.Thread(target=self._watch, args=(poll_seconds,), daemon=True)
            self._thread.start()

    @property
    def current(self):
        return self._current

    def _load(self, version):
        folder = self.base_path / str(version)
        model = tf.saved_model.load(str(folder))
        info = json.loads((folder / EXPORT_INFO_FILE).read_text()) if (folder / EXPORT_INFO_FILE).is_file() else {}
        titles_path = folder / "assets.extra" / TITLES_FILE
        titles = json.loads(titles_path.read_text()) if titles_path.is_file() else {}
        return LoadedVersion(version, model, info, titles, signature_defaults(folder))

    def refresh(self):
        """Loads and switches to a higher version if there is one; returns the version served."""
        found = versions(self.base_path)
        if found and found[-1] > self._current.version:
            try:
                loaded = self._load(found[-1])
            except Exception as e:  # a broken version is reported, the current one keeps serving
                self.errors.append(f"version {found[-1]}: {type(e).__name__}: {e}")
                return self._current.version
            with self._lock:
                self._current = loaded
        return self._current.version

    def _watch(self, poll_seconds):
        while not self._stop.wait(poll_seconds):
            self.refresh()

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
