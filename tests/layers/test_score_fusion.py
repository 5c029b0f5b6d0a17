"""ScoreFusion: averaged softmax probabilities as logits, or summed logits."""
import numpy as np
import pytest

from actionzoo.layers.score_fusion import ScoreFusion
from tests.layer_testing import run_layer_test


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("mode", ["softmax", "logits"])
def test_standard_layer_checks(mode):
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=(4, 3)).astype("float32") for _ in range(2))
    run_layer_test(ScoreFusion, {"mode": mode}, [a, b], expected_output_shape=(4, 3),
                   expected_num_trainable_weights=0, run_training_check=False)


def test_softmax_mode_is_log_of_mean_probability():
    rng = np.random.default_rng(1)
    zs = [rng.normal(scale=30.0, size=(5, 7)) for _ in range(3)]  # large: tests stability
    out = np.asarray(ScoreFusion("softmax")([z.astype("float32") for z in zs]))
    expected = np.mean([_softmax(z) for z in zs], axis=0)
    np.testing.assert_allclose(_softmax(out.astype("float64")), expected, atol=1e-5)
    np.testing.assert_allclose(np.exp(out).sum(-1), 1.0, rtol=1e-5)


def test_logits_mode_sums():
    a = np.array([[1.0, -2.0]], "float32")
    b = np.array([[0.5, 4.0]], "float32")
    np.testing.assert_allclose(np.asarray(ScoreFusion("logits")([a, b])), [[1.5, 2.0]])


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        ScoreFusion("max")
