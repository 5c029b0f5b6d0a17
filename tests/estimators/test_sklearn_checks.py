"""scikit-learn's own estimator checks, with inapplicable ones declared."""
from sklearn.utils.estimator_checks import parametrize_with_checks

from actionzoo import CorrNetFusion, EmbeddingAnomalyDetector, LateFusion

ESTIMATORS = [
    LateFusion(),
    LateFusion(method="weighted"),
    # fusion="none" (the correlation stream alone) lets generic data of any
    # even width through; the score-fusion paths are covered by the contract
    # checks on real two-stream data (test_contract.py).
    CorrNetFusion(fusion="none", hidden_units=(16,), optimizer="adam", learning_rate=0.05,
                  epochs=8, batch_size=32, random_state=0),
    EmbeddingAnomalyDetector(encoding_dim=2, hidden_units=(8,), epochs=3, batch_size=64,
                             random_state=0),
]


@parametrize_with_checks(ESTIMATORS,
                         expected_failed_checks=lambda est: est._expected_failed_checks())
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
