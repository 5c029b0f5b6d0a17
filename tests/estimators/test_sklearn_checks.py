"""scikit-learn's own estimator checks, with inapplicable ones declared."""
import pytest
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimators_unfitted,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    parametrize_with_checks,
)

from actionzoo import CorrNetFusion, EmbeddingAnomalyDetector, LateFusion, VideoResNetClassifier

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


# The clip estimators take videos (5-D arrays or paths), so parametrize_with_checks yields
# none of its data checks for them (input tag two_d_array=False); the API checks that need
# no 2-D data run here on the converted video ResNets' estimator.
VIDEO_API_CHECKS = [
    check_estimator_cloneable, check_estimator_repr, check_no_attributes_set_in_init,
    check_parameters_default_constructible, check_get_params_invariance, check_set_params,
    check_do_not_raise_errors_in_init_or_set_params, check_estimators_unfitted,
]


@pytest.mark.parametrize("check", VIDEO_API_CHECKS, ids=lambda c: c.__name__)
def test_video_resnet_classifier_api(check):
    check("VideoResNetClassifier", VideoResNetClassifier(architecture="mc3_18", clip_length=4))
