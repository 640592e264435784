"""Linear warm-up then linear decay, the schedule BERT fine-tuning uses."""

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="tfsearch")
class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak` over `warmup_steps`, then falls linearly to 0 at `total_steps`.

    Args:
        peak: float. The learning rate at the end of the warm-up.
        warmup_steps: int. Steps of the warm-up (0: none).
        total_steps: int. The step at which the rate reaches 0.

    Example:
    ```python
    schedule = WarmupLinearDecay(2e-5, warmup_steps=10, total_steps=100)
    schedule(5)    # 1e-5 (half-way up)
    schedule(55)   # 1e-5 (half-way down)
    ```
    """

    def __init__(self, peak, warmup_steps, total_steps):
        if total_steps <= 0 or not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"`total_steps` must be positive and `warmup_steps` in [0, total_steps], got "
                             f"warmup_steps={warmup_steps!r}, total_steps={total_steps!r}.")
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = tf.cast(self.warmup_steps, tf.float32)
        total = tf.cast(self.total_steps, tf.float32)
        rising = step / tf.maximum(warmup, 1.0)
        falling = (total - step) / tf.maximum(total - warmup, 1.0)
        return self.peak * tf.clip_by_value(tf.where(step < warmup, rising, falling), 0.0, 1.0)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}
