"""CorrNetFusion and LateFusion inside real scikit-learn machinery."""
import pickle

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import LinearSVC

from actionzoo import CorrNetFusion, LateFusion
from actionzoo.data.synthetic_scores import two_stream_scores

X, Y = two_stream_scores(160, n_classes=4, random_state=0)
X2 = X.reshape(len(X), -1)
TINY = dict(hidden_units=(16, 16), optimizer="adam", learning_rate=1e-2, epochs=4,
            batch_size=16, random_state=0)


def test_grid_search_over_fusion_gate_and_width_with_refit_then_pickle():
    grid = {"fusion": ["sum", "avg"], "entropy_threshold": [1.0, None],
            "hidden_units": [(8,), (16, 16)]}
    search = GridSearchCV(CorrNetFusion(**{**TINY, "epochs": 2}), grid, cv=2, refit=True)
    search.fit(X, Y)
    assert set(search.best_params_) == set(grid)
    assert search.cv_results_["mean_test_score"].shape == (8,)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    best = search.best_estimator_
    assert best.get_params()["fusion"] == search.best_params_["fusion"]
    expected = search.predict_proba(X)
    revived = pickle.loads(pickle.dumps(search))
    np.testing.assert_allclose(revived.predict_proba(X), expected, atol=1e-6)
    assert revived.score(X, Y) == search.score(X, Y)


def test_cross_val_score_on_both_estimators():
    for est in (CorrNetFusion(**TINY), LateFusion(method="weighted")):
        scores = cross_val_score(est, X2, Y, cv=3)
        assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_pipeline_with_preprocessing_step():
    pipe = Pipeline([("scale", StandardScaler()), ("fusion", CorrNetFusion(**TINY))])
    pipe.fit(X2, Y)
    assert pipe.predict_proba(X2).shape == (len(X2), 4)
    assert clone(pipe).get_params()["fusion__fusion"] == "sum"
    pipe.set_params(fusion__optimizer__momentum=0.5)
    assert pipe.named_steps["fusion"].optimizer_kwargs == {"momentum": 0.5}


def test_feature_union_of_embedding_and_raw_scores_into_svm():
    union = FeatureUnion([("corrnet", CorrNetFusion(**TINY)),
                          ("scores", FunctionTransformer(feature_names_out="one-to-one"))])
    pipe = Pipeline([("features", union), ("svm", LinearSVC())]).fit(X2, Y)
    names = pipe.named_steps["features"].get_feature_names_out()
    assert len(names) == 16 + X2.shape[1]
    assert names[0] == "corrnet__corrnetfusion0"
    assert pipe.score(X2, Y) > 0.5
