"""Keras callbacks of the training loop: training speed and learning rate in the logs, the step resumed from."""

import time

import tensorflow as tf


class TrainingSpeed(tf.keras.callbacks.Callback):
    """Times the training batches alone (not validation) and logs examples per second and the learning rate.

    At the end of each epoch it adds `learning_rate` (the rate at the current
    step, for a schedule) and `examples_per_second` to the logs: put it before
    `TensorBoard` in the callback list.

    Args:
        batch_size: int. Examples per training step (the global batch).

    Example:
    ```python
    speed = TrainingSpeed(batch_size=32)
    model.fit(dataset, callbacks=[speed])
    speed.examples_per_second  # steps * 32 / seconds spent in training batches
    ```
    """

    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.seconds = 0.0
        self.steps = 0
        self._start = None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(tf.keras.backend.get_value(
                self.model.optimizer.learning_rate(self.model.optimizer.iterations)
                if callable(self.model.optimizer.learning_rate) else self.model.optimizer.learning_rate))
            logs["examples_per_second"] = self.examples_per_second

    @property
    def examples_per_second(self):
        """float. Examples per second of training batch time so far (0 before the first batch)."""
        return self.steps * self.batch_size / self.seconds if self.seconds else 0.0


class ResumeRecorder(tf.keras.callbacks.Callback):
    """Notes the optimizer step training starts from (after `BackupAndRestore` restored it).

    Put it after `BackupAndRestore` in the callback list.

    Example:
    ```python
    resume = ResumeRecorder()
    model.fit(dataset, callbacks=[tf.keras.callbacks.BackupAndRestore("backup"), resume])
    resume.initial_step  # 0 for a fresh run
    ```
    """

    def __init__(self):
        super().__init__()
        self.initial_step = 0

    def on_train_begin(self, logs=None):
        self.initial_step = int(self.model.optimizer.iterations.numpy())
