import numpy as np
import pytest
import tensorflow as tf

from tfsearch.training.callbacks import ResumeRecorder, TrainingSpeed
from tfsearch.training.learning_rate import WarmupLinearDecay


def compiled_model(learning_rate, step=0):
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=[2])])
    model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate), loss="mse")
    model.optimizer.iterations.assign(step)
    return model


def test_training_speed_counts_batch_time_and_logs_the_scheduled_rate():
    speed = TrainingSpeed(batch_size=4)
    assert speed.examples_per_second == 0.0  # no batch yet
    model = compiled_model(WarmupLinearDecay(1.0, warmup_steps=2, total_steps=10))
    history = model.fit(np.zeros([24, 2]), np.zeros([24, 1]), batch_size=4, epochs=1, callbacks=[speed], verbose=0)
    # Six steps; the logged rate is the last step's: step 5 (from 0), on the decay from 1.0 at step 2 to 0 at
    # step 10: (10 - 5) / (10 - 2) = 0.625.
    assert speed.steps == 6 and speed.seconds > 0
    assert history.history["learning_rate"] == [pytest.approx(0.625)]
    assert history.history["examples_per_second"] == [pytest.approx(6 * 4 / speed.seconds)]


def test_training_speed_logs_a_constant_rate_and_keeps_the_other_logs():
    speed = TrainingSpeed(batch_size=4)
    speed.set_model(compiled_model(0.25))
    logs = {"loss": 1.0}
    speed.on_epoch_end(0, logs)
    assert logs == {"loss": 1.0, "learning_rate": 0.25, "examples_per_second": 0.0}


def test_resume_recorder_notes_the_starting_step():
    resume = ResumeRecorder()
    assert resume.initial_step == 0
    resume.set_model(compiled_model(0.1, step=7))
    resume.on_train_begin()
    assert resume.initial_step == 7
