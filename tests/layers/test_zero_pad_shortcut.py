"""ZeroPadShortcut: standard layer checks and the type-A shortcut against NumPy."""
import numpy as np
import pytest
from keras import ops

from actionzoo.layers.zero_pad_shortcut import ZeroPadShortcut
from tests.layer_testing import run_layer_test


def test_standard_layer_checks_and_numpy_reference():
    x = np.random.default_rng(0).normal(size=(2, 5, 4, 7, 3)).astype("float32")
    out = run_layer_test(ZeroPadShortcut, {"filters": 5, "strides": (2, 2, 2)}, x,
                         expected_output_shape=(2, 3, 2, 4, 5), expected_num_trainable_weights=0,
                         run_training_check=False)
    expected = np.concatenate([x[:, ::2, ::2, ::2], np.zeros((2, 3, 2, 4, 2), "float32")], axis=-1)
    np.testing.assert_array_equal(out, expected)


def test_identity_when_nothing_changes():
    x = np.random.default_rng(1).normal(size=(1, 2, 3, 3, 4)).astype("float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(ZeroPadShortcut(4)(x)), x)


def test_cannot_reduce_channels():
    with pytest.raises(ValueError, match="cannot reduce channels"):
        ZeroPadShortcut(2)(np.zeros((1, 2, 2, 2, 3), "float32"))


@pytest.mark.parametrize("kwargs", [{"filters": 0}, {"filters": 4, "strides": 0},
                                    {"filters": 4, "strides": (1, 2)}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ZeroPadShortcut(**kwargs)
