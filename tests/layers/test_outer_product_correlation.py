import numpy as np
import pytest

from actionzoo.layers import OuterProductCorrelation
from tests.layer_testing import run_layer_test


def numpy_reference(u, v, normalize, epsilon=1e-12):
    corr = u[:, :, None] * v[:, None, :]
    if normalize == "row_l2":
        norm = np.sqrt(np.maximum((corr ** 2).sum(-1, keepdims=True), epsilon))
        corr = corr / norm
    return corr


@pytest.mark.parametrize("normalize", ["row_l2", None])
def test_layer_matches_numpy_and_passes_layer_checks(normalize):
    rng = np.random.default_rng(0)
    u = rng.normal(size=(4, 5)).astype("float32")
    v = rng.normal(size=(4, 3)).astype("float32")
    out = run_layer_test(OuterProductCorrelation, {"normalize": normalize, "epsilon": 1e-12},
                         [u, v], expected_output_shape=(4, 5, 3),
                         expected_num_trainable_weights=0)
    np.testing.assert_allclose(out, numpy_reference(u, v, normalize), rtol=1e-5, atol=1e-6)


def test_row_l2_rows_have_unit_norm_and_zero_rows_stay_finite():
    u = np.array([[2.0, 0.0, -1.0]], "float32")
    v = np.array([[3.0, 4.0]], "float32")
    out = np.asarray(OuterProductCorrelation()([u, v]))
    np.testing.assert_allclose(np.linalg.norm(out[0], axis=1), [1.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[0, 2], [-0.6, -0.8], atol=1e-6)
    assert np.all(np.isfinite(out))


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="normalize"):
        OuterProductCorrelation(normalize="l1")
    with pytest.raises(ValueError, match="epsilon"):
        OuterProductCorrelation(epsilon=0)
