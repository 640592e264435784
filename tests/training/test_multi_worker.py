"""Two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy: a worker is killed and the cluster restarted."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time


from tests.conftest import REPO, make_tiny_encoder
from tfsearch.data import DEMO_DIR

EPOCHS = 3


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Worker:
    """A `tfsearch train --strategy multi_worker` process whose output lines are collected as they come."""

    def __init__(self, index, ports, output, model):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        command = [sys.executable, "-m", "tfsearch.cli", "train", "--data", str(DEMO_DIR), "--split", "test",
                   "--output", str(output), "--model", str(model), "--strategy", "multi_worker",
                   "--epochs", str(EPOCHS), "--batch-size", "32", "--learning-rate", "1e-3",
                   "--validation-fraction", "0", "--checkpoint-every", "4", "--no-progress",
                   "--mixed-precision", "float32"]
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def saw(self, text):
        return any(text in line for line in self.lines)

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=60)

    def wait(self, timeout):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("worker timed out:\n" + "\n".join(self.lines[-40:])) from None


def start_cluster(output, model):
    ports = free_ports(2)
    return [Worker(i, ports, output, model) for i in range(2)]


def wait_for(condition, timeout, workers):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if any(w.process.poll() is not None for w in workers):
            raise AssertionError("a worker exited early:\n" + "\n".join(workers[0].lines[-40:] + workers[1].lines[-40:]))
        time.sleep(0.05)
    raise AssertionError("timed out:\n" + "\n".join(workers[0].lines[-40:]))


def test_kill_a_worker_restart_the_cluster_and_resume(tmp_path):
    model = make_tiny_encoder(sequence_length=24).save_to_directory(tmp_path / "tiny")
    output = tmp_path / "run"
    workers = start_cluster(output, model)
    # Kill worker 1 in the middle of the second epoch (after the first is complete).
    wait_for(lambda: workers[0].saw("Epoch 2/"), 300, workers)
    time.sleep(0.5)
    workers[1].kill()
    # The survivor cannot go on without its peer; the cluster manager restarts the whole cluster.
    time.sleep(2)
    workers[0].kill()
    assert not (output / "training_report.json").exists()

    workers = start_cluster(output, model)
    for worker in workers:
        assert worker.wait(timeout=400) == 0, "\n".join(worker.lines[-40:])

    chief = json.loads((output / "training_report.json").read_text())
    other = json.loads((output / "workers" / "worker-1" / "training_report.json").read_text())
    assert chief["num_replicas"] == other["num_replicas"] == 2
    # The same total number of steps as an uninterrupted run, from a backup taken
    # after the first epoch had completed (no completed epoch lost).
    assert chief["steps"] == other["steps"] == EPOCHS * chief["steps_per_epoch"]
    assert chief["steps_per_epoch"] <= chief["resumed_from_step"] < chief["steps"]
    assert other["resumed_from_step"] == chief["resumed_from_step"]
    # Identical final weights on both workers.
    assert chief["final_weights_sha"] == other["final_weights_sha"]
    assert (output / "tfsearch_encoder.json").is_file()
