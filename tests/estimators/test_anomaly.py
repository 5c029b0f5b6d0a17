"""EmbeddingAnomalyDetector: outlier API semantics on embeddings."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from actionzoo import EmbeddingAnomalyDetector


def embeddings(n_normal=200, n_odd=20, d=24, seed=0):
    """Normal rows on a 3-D subspace (plus noise); anomalies off it."""
    basis = np.random.default_rng(123).normal(size=(3, d))
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=(n_normal, 3)) @ basis + 0.05 * rng.normal(size=(n_normal, d))
    odd = rng.normal(size=(n_odd, d)) * normal.std(axis=0)
    return normal.astype("float32"), odd.astype("float32")


NORMAL, ODD = embeddings()
FAST = dict(encoding_dim=3, hidden_units=(32,), learning_rate=1e-2, epochs=30, batch_size=50,
            random_state=0)


@pytest.fixture(scope="module")
def detector():
    return EmbeddingAnomalyDetector(**FAST).fit(NORMAL)


def test_separates_off_subspace_embeddings(detector):
    test_normal, test_odd = embeddings(n_normal=100, seed=1)[0], ODD
    scores = detector.score_samples(np.vstack([test_normal, test_odd]))
    labels = np.r_[np.ones(len(test_normal)), np.zeros(len(test_odd))]
    assert roc_auc_score(labels, scores) > 0.95
    assert (detector.predict(test_odd) == -1).mean() >= 0.9


def test_scores_are_negated_reconstruction_errors(detector):
    z = (NORMAL[:7] - detector.mean_) / detector.scale_
    recon = np.asarray(detector.model_(z, training=False))
    np.testing.assert_allclose(detector.score_samples(NORMAL[:7]),
                               -np.mean((recon - z) ** 2, axis=1), rtol=1e-5)
    np.testing.assert_allclose(detector.decision_function(NORMAL[:7]),
                               detector.score_samples(NORMAL[:7]) - detector.offset_)


@pytest.mark.parametrize("contamination", [0.05, 0.2])
def test_contamination_is_the_training_outlier_share(contamination):
    det = EmbeddingAnomalyDetector(contamination=contamination, **dict(FAST, epochs=1))
    predicted = det.fit_predict(NORMAL)
    assert set(np.unique(predicted)) <= {-1, 1}
    assert (predicted == -1).sum() == int(contamination * len(NORMAL))


def test_bottleneck_capped_below_input_width():
    det = EmbeddingAnomalyDetector(encoding_dim=64, hidden_units=(), epochs=1,
                                   random_state=0).fit(NORMAL[:, :5])
    assert det.encoding_dim_ == 4
    assert det.model_.get_layer("bottleneck").units == 4


def test_pickle_and_repeatable(detector):
    revived = pickle.loads(pickle.dumps(detector))
    np.testing.assert_allclose(revived.score_samples(ODD), detector.score_samples(ODD),
                               rtol=1e-6)
    again = clone(detector).fit(NORMAL)
    np.testing.assert_allclose(again.score_samples(ODD), detector.score_samples(ODD),
                               rtol=1e-5)


def test_errors_name_the_problem(detector):
    with pytest.raises(ValueError, match="n_features = 1"):
        EmbeddingAnomalyDetector(epochs=1).fit(NORMAL[:, :1])
    with pytest.raises(ValueError, match="24 features"):
        detector.score_samples(NORMAL[:, :5])
