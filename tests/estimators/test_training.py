"""The training function shared by the estimators, on a real video pipeline."""
import keras
import numpy as np
import pytest

from actionzoo.data import ClipLoader, DenseClipSampler, SkipLog, eval_transform, make_dataset
from actionzoo.estimators._training import train_model
from tests.estimators.clip_videos import demo_videos


def test_a_file_failing_mid_epoch_is_one_short_error(tmp_path):
    """A video that fails to decode inside the tf.data pipeline stops the fit
    with one ValueError naming it, not a TensorFlow error."""
    paths, y, _ = demo_videos(tmp_path / "videos")
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(b"not a video" * 100)
    paths = np.append(paths, str(corrupt))
    y = np.append(y, 0)
    log = SkipLog()
    loader = ClipLoader(DenseClipSampler(4, 1, mode="test"), eval_transform(16, 18),
                        frame_size=(16, 16))
    ds = make_dataset(paths, y.astype("int64"), loader, batch_size=4, on_error="skip",
                      skip_log=log)
    ds = ds.map(lambda x, label: (keras.ops.cast(x, "float32") / 255.0, label))
    ds.skip_log = log
    model = keras.Sequential([keras.Input((4, 16, 16, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.warns(UserWarning, match="corrupt.avi"):
        with pytest.raises(ValueError, match=r"bad video file .*corrupt.avi") as caught:
            train_model(model, ds, owner="Test", epochs=2)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message and "tensorflow" not in message
