"""What the text towers share to be rebuilt from a Keras config and saved to a folder.

`BertEncoder` and `ContextQueryTower` take strings, so Keras' default build
config (an input shape, replayed with a float placeholder) cannot rebuild
them: `BuildsByCalling` records whether the model was built and rebuilds it by
calling it on a sample. Their folders keep the weights as a TensorFlow
checkpoint under `weights/` (`write_weights`, `read_weights`); their JSON
metadata goes through `tfsearch.utils.folder_files`.
"""

import pathlib

import tensorflow as tf

WEIGHTS_DIR = "weights"
_CHECKPOINT_PREFIX = "ckpt"


class BuildsByCalling:
    """Mixin for a Keras model whose input is strings: built by a call on a sample, rebuilt from its config.

    Put it before `tf.keras.Model` in the bases. The model defines
    `_ensure_built()`, which calls the model on a sample input when it (or a
    part it needs) is not built yet. `from_config` passes the config to the
    constructor as keyword arguments (every constructor argument is stored
    under its own name and returned by `get_config`).

    Example:
    ```python
    class Encoder(BuildsByCalling, tf.keras.Model):
        def _ensure_built(self):
            if not self.built:
                self(tf.constant(["build"]))
    ```
    """

    def get_build_config(self):
        # The input is a batch of strings of any size: no shape to record.
        return {"built": bool(self.built)}

    def build_from_config(self, config):
        # Keras' default builds from an input shape with a float placeholder;
        # the input is strings.
        if config.get("built"):
            self._ensure_built()

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def write_weights(folder, **objects):
    """Writes a TensorFlow checkpoint of `objects` (keyword: the name each is saved under) to `folder/weights/`.

    Args:
        folder: str or PathLike. The model's folder.
        **objects: trackable objects (models, layers), e.g. `encoder=encoder`.

    Example:
    ```python
    write_weights(tmp, encoder=encoder)  # tmp/weights/ckpt.index, ckpt.data-*
    ```
    """
    tf.train.Checkpoint(**objects).write(str(pathlib.Path(folder) / WEIGHTS_DIR / _CHECKPOINT_PREFIX))


def read_weights(folder, **objects):
    """Restores `objects`, already built, from the checkpoint `write_weights` wrote under the same names.

    Every variable of `objects` must be in the checkpoint; values the
    checkpoint holds beyond them (optimizer slots) are ignored.

    Example:
    ```python
    read_weights(path, encoder=encoder)
    ```
    """
    status = tf.train.Checkpoint(**objects).read(str(pathlib.Path(folder) / WEIGHTS_DIR / _CHECKPOINT_PREFIX))
    status.assert_existing_objects_matched().expect_partial()
