"""A Keras callback that records each epoch's mean training loss (Keras logs the last batch's for tfrs models)."""

import tensorflow as tf


class MeanLoss(tf.keras.callbacks.Callback):
    """Mean of the batches' `loss` per epoch, in `self.history` (list of float).

    tensorflow-recommenders' `train_step` returns the batch loss, so Keras'
    `History` holds the last batch's value of each epoch; this one averages.

    Example:
    ```python
    mean_loss = MeanLoss()
    model.fit(dataset, epochs=3, callbacks=[mean_loss])
    mean_loss.history  # [epoch 1 mean, epoch 2 mean, epoch 3 mean]
    ```
    """

    def __init__(self):
        super().__init__()
        self.history = []
        self._total = 0.0
        self._count = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._total, self._count = 0.0, 0

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs:
            self._total += float(logs["loss"])
            self._count += 1

    def on_epoch_end(self, epoch, logs=None):
        self.history.append(self._total / self._count if self._count else float("nan"))
