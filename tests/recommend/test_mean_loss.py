import math

from tfsearch.recommend.mean_loss import MeanLoss


def test_mean_of_the_batches_per_epoch():
    callback = MeanLoss()
    # Epoch 1: batch losses 4, 2, 3 -> mean 3 (Keras' History would keep the last, 3, by chance);
    # epoch 2: 1, 0 -> 0.5; a batch without a loss is not counted.
    for epoch, losses in enumerate([[4.0, 2.0, 3.0], [1.0, 0.0]]):
        callback.on_epoch_begin(epoch)
        for batch, loss in enumerate(losses):
            callback.on_train_batch_end(batch, {"loss": loss})
        callback.on_train_batch_end(len(losses), {})
        callback.on_epoch_end(epoch)
    assert callback.history == [3.0, 0.5]
    callback.on_epoch_begin(2)
    callback.on_epoch_end(2)  # no batch: NaN rather than a division error
    assert math.isnan(callback.history[-1])
