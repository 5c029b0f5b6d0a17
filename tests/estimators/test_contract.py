"""Our contract checks on each estimator with its own (two-stream) X."""
import numpy as np
import pytest

from actionzoo import CorrNetFusion, LateFusion
from actionzoo.data.synthetic_scores import two_stream_scores
from actionzoo.estimators.contract_checks import CONTRACT_CHECKS

X3, Y = two_stream_scores(48, n_classes=4, random_state=0)
X2 = X3.reshape(len(X3), -1)
X4 = np.repeat(X3[:, :, None, :], 3, axis=2) + np.random.default_rng(0).normal(
    0, 0.1, size=(48, 2, 3, 4)).astype("float32")
TINY = dict(hidden_units=(16, 16), optimizer="adam", learning_rate=1e-2, epochs=2,
            batch_size=16, random_state=0)

CASES = [
    ("corrnet-3d", CorrNetFusion(**TINY), X3),
    ("corrnet-2d", CorrNetFusion(**TINY), X2),
    ("corrnet-per-frame", CorrNetFusion(**TINY), X4),
    ("latefusion-avg", LateFusion(), X3),
    ("latefusion-weighted", LateFusion(method="weighted"), X2),
]


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name,estimator,X", CASES, ids=[c[0] for c in CASES])
def test_contract(name, estimator, X, check):
    check(estimator, X, Y)


def test_a_broken_estimator_fails_the_checks():
    """The checks can fail: an estimator whose __init__ alters an argument."""
    from actionzoo.estimators.contract_checks import check_init_stores_params

    class Broken(LateFusion):
        def __init__(self, method="avg"):
            self.method = method.upper()

    with pytest.raises(AssertionError, match="changed argument"):
        check_init_stores_params(Broken(), X3, Y)
