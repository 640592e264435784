"""`ModelStore`: only complete versions are served, warmed up before the switch; gone and republished versions."""

import json
import logging
import os
import shutil
import time
import uuid

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import make_tiny_encoder
from tfsearch.export import export_search_model
from tfsearch.export.saved_model_export import (
    DEFAULT_WARMUP_QUERY,
    EXPORT_FILES_KEY,
    EXPORT_ID_KEY,
    EXPORT_INFO_FILE,
    TITLES_FILE,
    WARMUP_FILE,
    version_files,
    version_identity,
    version_is_complete,
    write_warmup_requests,
)
from tfsearch.index import BruteForceIndex
from tfsearch.serving.model_store import WARMUP_BATCH_SIZES, LoadedVersion, ModelStore

DOCS = ["the cat sat on the mat", "a dog is eating food", "a piece of bread", "tensor flow search"]
IDS = [f"d{i}" for i in range(len(DOCS))]
TITLES = {d: f"title of {d}" for d in IDS}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """One tiny tfsearch export (`.../source/1`), with titles; tests copy it (an export takes long)."""
    encoder = make_tiny_encoder()
    index = BruteForceIndex(k=3).index(encoder(tf.constant(DOCS)).numpy(), IDS)
    version_dir, _ = export_search_model(encoder, index, tmp_path_factory.mktemp("source") / "m", num_candidates=4,
                                         max_k=3, titles=TITLES)
    return version_dir


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    """A tiny SavedModel written by `tf.saved_model.save`, not by tfsearch (no tfsearch_export.json)."""
    folder = tmp_path_factory.mktemp("plain") / "model"
    module = tf.Module()
    module.offset = tf.Variable(1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="queries"),
                                  tf.TensorSpec([], tf.int32, name="k"),
                                  tf.TensorSpec([], tf.float32, name="diversity")])
    def lengths(queries, k, diversity):
        del diversity
        return {"lengths": tf.strings.length(queries) + module.offset + k}

    module.lengths = lengths
    tf.saved_model.save(module, str(folder), signatures={"serving_default": lengths})
    return folder


def plain_version(base, version, source, marker=True, warmup_signature=None):
    """Copies `source` to `base/version`; `marker`: adds a tfsearch_export.json listing its files (a new export_id).

    `warmup_signature`: also writes a warm-up file whose request calls that signature.
    """
    folder = base / str(version)
    shutil.copytree(source, folder)
    if warmup_signature:
        (folder / "assets.extra").mkdir(exist_ok=True)
        write_warmup_requests(folder / "assets.extra" / WARMUP_FILE, ["hello"], 1, signature=warmup_signature)
    if marker:
        info = {EXPORT_ID_KEY: uuid.uuid4().hex, EXPORT_FILES_KEY: version_files(folder)}
        (folder / EXPORT_INFO_FILE).write_text(json.dumps(info))
    return folder


def test_the_export_lists_its_files_and_a_truncated_one_makes_it_incomplete(export, tmp_path):
    info = json.loads((export / EXPORT_INFO_FILE).read_text())
    on_disk = {os.path.relpath(os.path.join(root, name), export).replace(os.sep, "/"):
               os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(export) for name in names}
    del on_disk[EXPORT_INFO_FILE]
    assert info[EXPORT_FILES_KEY] == on_disk and f"assets.extra/{TITLES_FILE}" in on_disk
    assert len(info[EXPORT_ID_KEY]) == 32 and version_identity(export) == info[EXPORT_ID_KEY]
    assert version_is_complete(export)
    copy = shutil.copytree(export, tmp_path / "1")
    with open(copy / "assets.extra" / TITLES_FILE, "r+b") as titles:
        titles.truncate(3)
    assert not version_is_complete(copy)
    (copy / EXPORT_INFO_FILE).write_text('{"files": ')  # a marker still being copied
    assert not version_is_complete(copy)


def test_a_version_copied_file_by_file_is_served_once_complete_with_its_titles(export, plain_model, tmp_path):
    base = tmp_path / "m"
    plain_version(base, 1, plain_model)
    store = ModelStore(base, poll_seconds=None)
    files = sorted(version_files(export), key=lambda name: name.endswith(TITLES_FILE))  # the titles last
    for name in files[:-1] + [EXPORT_INFO_FILE] + files[-1:]:  # a SavedModel first, then the marker
        (base / "2" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(export / name, base / "2" / name)
        served = store.refresh()
        if name != files[-1]:
            assert served == 1, f"served version 2 before {files[-1]} was copied (last copied: {name})"
    assert served == 2 and store.current.titles == TITLES and not store.errors
    assert store.current.info[EXPORT_ID_KEY] == json.loads((export / EXPORT_INFO_FILE).read_text())[EXPORT_ID_KEY]
    assert "search_batchable" in store.current.signature_defs  # SignatureDef protos, for model metadata
    assert set(store.current.signature_defs["serving_default"].inputs) == {"queries", "k", "diversity"}


def test_the_new_version_is_warmed_up_before_it_is_served(export, plain_model, tmp_path, monkeypatch, caplog):
    base = tmp_path / "m"
    plain_version(base, 1, plain_model)
    store = ModelStore(base, poll_seconds=None)
    calls = []  # (version called, version served meanwhile, signature, states reported meanwhile)
    real = LoadedVersion.signature

    def recording(loaded, name):
        calls.append((loaded.version, store.current.version, name, [s["state"] for s in store.status()]))
        return real(loaded, name)

    monkeypatch.setattr(LoadedVersion, "signature", recording)
    shutil.copytree(export, base / "2")
    with caplog.at_level(logging.INFO, logger="tfsearch.serving"):
        assert store.refresh() == 2
    # The export's warm-up request, search_batchable at each batch size, then each other signature taking only
    # text (and inputs with defaults) once; search_embeddings takes embeddings without a default: not called.
    others = ["encode_document", "encode_query", "search"]
    warmup = 1 + len(WARMUP_BATCH_SIZES) + len(others)
    assert [name for *_, name, _ in calls] == (["serving_default"] + ["search_batchable"] * len(WARMUP_BATCH_SIZES)
                                               + others)
    assert all(called == 2 and served == 1 and states == ["AVAILABLE", "LOADING"]
               for called, served, _, states in calls)
    assert store.status() == [{"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK",
                                                                                "error_message": ""}}]
    assert "serving version 2 (was 1)" in caplog.text and f"with {warmup} requests" in caplog.text
    # The version's load and warm-up times, logged and kept with it (the Prometheus gauges read them).
    assert store.current.load_seconds > 0 and store.current.warmup_seconds > 0
    assert f"loaded in {store.current.load_seconds:.1f} s, warmed up in {store.current.warmup_seconds:.1f} s" \
        in caplog.text


def test_a_batching_server_warms_up_its_searches_through_search_batchable(export, plain_model, tmp_path,
                                                                         monkeypatch):
    base = tmp_path / "m"
    plain_version(base, 1, plain_model)
    store = ModelStore(base, poll_seconds=None, batched_signatures=("serving_default", "search"))
    calls = []  # (signature, its inputs)
    real = LoadedVersion.signature

    def recording(loaded, name):
        signature = real(loaded, name)
        return lambda **inputs: calls.append((name, inputs)) or signature(**inputs)

    monkeypatch.setattr(LoadedVersion, "signature", recording)
    shutil.copytree(export, base / "2")
    assert store.refresh() == 2
    # The export's warm-up request calls serving_default with the one warm-up query, k 3 (the default k,
    # DEFAULT_K 10, capped at max_k 3) and diversity 0 (DEFAULT_DIVERSITY): replayed as the request batcher
    # sends it, a k and a diversity per query. Neither search signature is called itself; the encoders are.
    assert [name for name, _ in calls] == (["search_batchable"] * (1 + len(WARMUP_BATCH_SIZES))
                                           + ["encode_document", "encode_query"])
    replayed = calls[0][1]
    assert replayed["queries"].tolist() == [DEFAULT_WARMUP_QUERY.encode()]
    assert replayed["k"].dtype == np.int32 and replayed["k"].tolist() == [3]
    assert replayed["diversity"].dtype == np.float32 and replayed["diversity"].tolist() == [0.0]


def test_batched_signatures_are_warmed_up_themselves_where_a_version_has_no_search_batchable(plain_model,
                                                                                          tmp_path, monkeypatch):
    base = tmp_path / "m"
    plain_version(base, 1, plain_model)
    store = ModelStore(base, poll_seconds=None, batched_signatures=("serving_default", "search"))
    called = []
    real = LoadedVersion.signature
    monkeypatch.setattr(LoadedVersion, "signature", lambda loaded, name: called.append(name) or real(loaded, name))
    plain_version(base, 2, plain_model, warmup_signature="serving_default")
    assert store.refresh() == 2
    # The plain model's only signature answers its searches itself (the batcher calls it one request at a time):
    # its warm-up request, then nothing else (it is the only signature).
    assert called == ["serving_default"]


def test_a_saved_model_from_elsewhere_is_served_after_a_quiet_poll(plain_model, tmp_path):
    base = tmp_path / "m"
    plain_version(base, 1, plain_model, marker=False)
    store = ModelStore(base, poll_seconds=None, quiet_seconds=0)  # at start-up: two looks, quiet_seconds apart
    assert store.current.version == 1 and store.current.info == {}
    plain_version(base, 2, plain_model, marker=False)
    assert store.refresh() == 1  # first seen: maybe still being copied
    assert store.refresh() == 2  # unchanged since the previous poll
    half = plain_version(base, 3, plain_model, marker=False)
    os.remove(half / "variables" / "variables.index")
    assert store.refresh() == 2 and store.refresh() == 2  # quiet, but no complete SavedModel
    shutil.copyfile(plain_model / "variables" / "variables.index", half / "variables" / "variables.index")
    assert store.refresh() == 2 and store.refresh() == 3 and not store.errors


def test_no_complete_version_at_start_up_says_what_to_do(plain_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no version folder"):
        ModelStore(tmp_path / "empty", poll_seconds=None)
    (tmp_path / "m" / "1").mkdir(parents=True)
    shutil.copyfile(plain_model / "saved_model.pb", tmp_path / "m" / "1" / "saved_model.pb")
    with pytest.raises(FileNotFoundError, match=r"holds version folders \[1\], but none is complete.*Finish"):
        ModelStore(tmp_path / "m", poll_seconds=None, quiet_seconds=0)


def test_a_deleted_version_falls_back_to_the_next_highest_and_the_last_stays_in_memory(plain_model, tmp_path):
    base = tmp_path / "m"
    for version in (1, 2, 3):
        plain_version(base, version, plain_model)
    store = ModelStore(base, poll_seconds=None)
    assert store.current.version == 3
    shutil.rmtree(base / "3")
    assert store.refresh() == 2 and not store.errors
    shutil.rmtree(base / "2")
    shutil.rmtree(base / "1")
    assert store.refresh() == 2 and store.refresh() == 2
    assert len(store.errors) == 1 and "from memory" in store.errors[0]  # logged once
    out = store.current.signature("serving_default")(queries=["abc"], k=1, diversity=0.0)
    assert out["lengths"].tolist() == [5]  # still answering
    plain_version(base, 1, plain_model)
    assert store.refresh() == 1  # a lower version is better than none on disk


def test_a_deleted_then_republished_version_is_reloaded(plain_model, tmp_path):
    base = tmp_path / "m"
    plain_version(base, 1, plain_model)
    store = ModelStore(base, poll_seconds=None)
    first = store.current
    shutil.rmtree(base / "1")
    plain_version(base, 1, plain_model)  # the same number, another export_id
    assert store.refresh() == 1 and store.current is not first and store.current.identity != first.identity
    again = store.current
    assert store.refresh() == 1 and store.current is again  # unchanged: not loaded again
    # Without tfsearch_export.json, the identity is saved_model.pb's inode and mtime.
    shutil.rmtree(base / "1")
    plain_version(base, 1, plain_model, marker=False)
    store.refresh()  # the quiet poll
    assert store.refresh() == 1 and store.current is not again and isinstance(store.current.identity, tuple)


def test_a_failed_warm_up_keeps_the_current_version_and_is_not_retried_until_republished(plain_model, tmp_path,
                                                                                          monkeypatch):
    base = tmp_path / "m"
    plain_version(base, 1, plain_model)
    store = ModelStore(base, poll_seconds=None)
    plain_version(base, 2, plain_model, warmup_signature="search_batchable")  # a signature it lacks
    loads = []
    real = ModelStore._load
    monkeypatch.setattr(ModelStore, "_load", lambda self, *args: loads.append(args) or real(self, *args))
    for _ in range(3):
        assert store.refresh() == 1
    assert len(loads) == 1 and len(store.errors) == 1
    assert "version 2: ValueError" in store.errors[0] and "'search_batchable'" in store.errors[0]
    shutil.rmtree(base / "2")
    plain_version(base, 2, plain_model, warmup_signature="serving_default")  # republished, fixed
    assert store.refresh() == 2 and len(loads) == 2 and len(store.errors) == 1


def test_the_watching_thread_switches_at_a_lower_priority(plain_model, tmp_path):
    base = tmp_path / "m"
    plain_version(base, 1, plain_model)
    store = ModelStore(base, poll_seconds=0.05)
    try:
        plain_version(base, 2, plain_model)
        deadline = time.monotonic() + 30
        while store.current.version != 2:
            assert time.monotonic() < deadline, store.errors
            time.sleep(0.05)
        if hasattr(os, "getpriority"):
            assert os.getpriority(os.PRIO_PROCESS, store._thread.native_id) > os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        store.close()
    assert not store._thread.is_alive()
