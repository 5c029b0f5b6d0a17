"""scikit-learn estimators, one file per estimator; shared machinery in _base.py."""
