"""`RequestBatcher` alone, over a fake `search_batchable` that records its calls (no model, no TensorFlow graph)."""

import threading
import types

import numpy as np
import pytest

from tfsearch.serving.request_batcher import RequestBatcher

MAX_K = 4


class FakeVersion:
    """A `LoadedVersion` whose `search_batchable` answers query "qN" with ids "qN-0".."qN-3" and records each call."""

    def __init__(self, version=1, fail_on=None, gate=None):
        self.version, self.max_k, self.calls = version, MAX_K, []
        self.fail_on, self.gate = fail_on, gate

    def has_signature(self, name):
        return name == "search_batchable"

    def signature(self, name):
        assert name == "search_batchable"
        return self.search_batchable

    def search_batchable(self, queries, k, diversity):
        queries = [q.decode() if isinstance(q, bytes) else q for q in queries]
        self.calls.append((queries, k.tolist(), diversity.tolist()))
        if self.gate is not None:
            self.gate.wait(30)
        if self.fail_on in queries:
            raise RuntimeError(f"cannot search {self.fail_on}")
        slots = np.arange(MAX_K)
        found = slots[None, :] < k[:, None]  # as the export: slots past a row's k are empty
        ids = np.array([[f"{q}-{j}".encode() for j in slots] for q in queries], dtype=object)
        return {"ids": np.where(found, ids, b""),
                "scores": np.where(found, -slots[None, :].astype(np.float32), -np.inf),
                "positions": np.where(found, slots[None, :], -1)}


def batcher_over(version, **kwargs):
    """One worker that always waits out the timeout for company (TensorFlow Serving's batching)."""
    return RequestBatcher(types.SimpleNamespace(current=version), num_batch_threads=1, wait_when_idle=True, **kwargs)


def wait_until(condition, seconds=10):
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_an_idle_batcher_runs_a_request_at_once_and_a_busy_one_waits_for_company():
    gate = threading.Event()
    version = FakeVersion(gate=gate)
    # The default, wait_when_idle=False, with a 30 s timeout that a waiting batch would sit out.
    batcher = RequestBatcher(types.SimpleNamespace(current=version), max_batch_size=3,
                             batch_timeout_micros=30_000_000, num_batch_threads=2)
    try:
        alone = batcher.submit(["a"], k=1, diversity=0.0)
        wait_until(lambda: len(version.calls) == 1)  # no batch running: "a" is called at once
        # While "a" runs (held by the gate), the other worker waits for company: b, c and d fill a batch of 3.
        rest = [batcher.submit([q], k=1, diversity=0.0) for q in ("b", "c", "d")]
        wait_until(lambda: len(version.calls) == 2)
        gate.set()
        assert [f.result(timeout=30)[1]["ids"].tolist() for f in (alone, *rest)] == [
            [[b"a-0"]], [[b"b-0"]], [[b"c-0"]], [[b"d-0"]]]
    finally:
        gate.set()
        batcher.close()
    assert [queries for queries, _, _ in version.calls] == [["a"], ["b", "c", "d"]]


def test_concurrent_requests_are_one_call_split_back_by_request():
    version = FakeVersion()
    # A batch of 6 queries is full when the third request arrives: no waiting for the (long) timeout.
    batcher = batcher_over(version, max_batch_size=6, batch_timeout_micros=30_000_000)
    try:
        a = batcher.submit(["a1", "a2"], k=2, diversity=0.0)
        b = batcher.submit(["b1"], k=4, diversity=0.5)
        c = batcher.submit(["c1", "c2", "c3"], k=1, diversity=1.0)
        results = [f.result(timeout=30) for f in (a, b, c)]
    finally:
        batcher.close()
    # One call, the queries, k and diversity per query, in submission order.
    assert version.calls == [(["a1", "a2", "b1", "c1", "c2", "c3"], [2, 2, 4, 1, 1, 1],
                              [0.0, 0.0, 0.5, 1.0, 1.0, 1.0])]
    (va, ra), (vb, rb), (vc, rc) = results
    assert va is vb is vc is version
    assert ra["ids"].tolist() == [[b"a1-0", b"a1-1"], [b"a2-0", b"a2-1"]]  # [2 queries, k 2]
    assert rb["ids"].tolist() == [[b"b1-0", b"b1-1", b"b1-2", b"b1-3"]]
    assert rc["ids"].tolist() == [[b"c1-0"], [b"c2-0"], [b"c3-0"]]
    assert rb["scores"].tolist() == [[0.0, -1.0, -2.0, -3.0]] and rc["positions"].tolist() == [[0], [0], [0]]


def test_max_batch_size_and_a_request_too_big_to_share():
    version = FakeVersion()
    batcher = batcher_over(version, max_batch_size=4, batch_timeout_micros=100_000)
    try:
        futures = [batcher.submit(q, k=1, diversity=0.0) for q in (["a1", "a2"], ["b1"], ["c1", "c2", "c3"],
                                                                   ["d1", "d2", "d3", "d4", "d5"])]
        for future in futures:
            future.result(timeout=30)
    finally:
        batcher.close()
    # 2 + 1 fit in 4; 3 more would not: the next batch; 5 > 4 runs alone.
    assert [queries for queries, _, _ in version.calls] == [["a1", "a2", "b1"], ["c1", "c2", "c3"],
                                                            ["d1", "d2", "d3", "d4", "d5"]]


def test_the_timeout_flushes_a_lone_request():
    version = FakeVersion()
    batcher = batcher_over(version, max_batch_size=16, batch_timeout_micros=1000)
    try:
        _, out = batcher.submit(["alone"], k=3, diversity=0.0).result(timeout=30)
    finally:
        batcher.close()
    assert out["ids"].tolist() == [[b"alone-0", b"alone-1", b"alone-2"]] and len(version.calls) == 1


def test_an_error_reaches_every_request_of_its_batch_and_no_other():
    gate = threading.Event()
    version = FakeVersion(fail_on="bad", gate=gate)
    batcher = batcher_over(version, max_batch_size=3, batch_timeout_micros=30_000_000)
    try:
        first = [batcher.submit([q], k=1, diversity=0.0) for q in ("ok1", "bad", "ok2")]  # one full batch
        later = batcher.submit(["ok3"], k=1, diversity=0.0)  # queued while the first batch runs
        gate.set()
        for future in first:
            with pytest.raises(RuntimeError, match="cannot search bad"):
                future.result(timeout=30)
        batcher.close()  # a graceful close: what is queued is still answered
        assert later.result(timeout=30)[1]["ids"].tolist() == [[b"ok3-0"]]
    finally:
        gate.set()
        batcher.close()
    assert [queries for queries, _, _ in version.calls] == [["ok1", "bad", "ok2"], ["ok3"]]


@pytest.mark.parametrize("queries, k, diversity, message", [
    (["x"], 0, 0.0, "`k`"), (["x"], MAX_K + 1, 0.0, "from 1 to 4"), (["x"], 2.5, 0.0, "`k`"),
    (["x"], True, 0.0, "`k`"), (["x"], 1, 1.5, "diversity"), (["x"], 1, float("nan"), "diversity"),
    ([], 1, 0.0, "queries"), ([""], 1, 0.0, "queries"), ("x", 1, 0.0, "queries"),
])
def test_a_bad_request_is_refused_before_it_is_queued(queries, k, diversity, message):
    version = FakeVersion()
    batcher = batcher_over(version, max_batch_size=2, batch_timeout_micros=30_000_000)
    try:
        good = batcher.submit(["good"], k=1, diversity=0.0)
        with pytest.raises(ValueError, match=message):
            batcher.submit(queries, k=k, diversity=diversity)
        assert batcher.queue_depth <= 1  # only the good request waits (or is being batched)
        batcher.submit(["good2"], k=2, diversity=0.0)  # fills the batch: it runs now
        assert good.result(timeout=30)[1]["ids"].tolist() == [[b"good-0"]]
    finally:
        batcher.close()
    assert version.calls == [(["good", "good2"], [1, 2], [0.0, 0.0])]
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(["late"], k=1, diversity=0.0)


def test_each_batch_runs_on_the_version_current_when_it_starts():
    old, new = FakeVersion(1), FakeVersion(2)
    store = types.SimpleNamespace(current=old)
    batcher = RequestBatcher(store, max_batch_size=1, batch_timeout_micros=0, num_batch_threads=1)
    try:
        assert batcher.submit(["a"], k=1, diversity=0.0).result(timeout=30)[0] is old
        store.current = new
        assert batcher.submit(["b"], k=1, diversity=0.0).result(timeout=30)[0] is new
    finally:
        batcher.close()
    assert len(old.calls) == len(new.calls) == 1


def test_the_serve_command_takes_tf_servings_batching_flags(capsys):
    from tfsearch.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["serve", "--model-base-path", "m", "--max-batch-size", "0",
                              "--batch-timeout-micros", "500"])
    assert (args.max_batch_size, args.batch_timeout_micros) == (0, 500)
    bare = parser.parse_args(["serve", "--model-base-path", "m"])
    assert bare.max_batch_size is None and bare.batch_timeout_micros is None  # create_app's defaults
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--model-base-path", "m", "--max-batch-size", "-1"])
    assert "integer >= 0" in capsys.readouterr().err
