"""scikit-learn's parameter constraints, imported in one place.

The estimators declare ``_parameter_constraints`` with scikit-learn's
``Interval``, ``StrOptions``, ``Options`` and ``HasMethods``, so
``BaseEstimator._validate_params`` checks hyper-parameters the way it does for
scikit-learn's own estimators. These classes live in the private module
``sklearn.utils._param_validation``: scikit-learn keeps them private on purpose
("subject to change without deprecation", scikit-learn issue #28963) until a
third-party developer API is published. This module is the only importer of
that private path, behind a check of the scikit-learn versions the project is
tested with (``pyproject.toml``), so a release that moves them fails here with
a message instead of at an import deep inside an estimator.
"""
import sklearn

_TESTED = ((1, 6), (1, 7))  # the range pinned in pyproject.toml: >=1.6,<1.8
_VERSION = tuple(int(part) for part in sklearn.__version__.split(".")[:2])

if not _TESTED[0] <= _VERSION <= _TESTED[1]:
    raise ImportError(
        f"actionzoo is tested with scikit-learn 1.6-1.7 and imports its private parameter "
        f"constraints (sklearn.utils._param_validation); found scikit-learn "
        f"{sklearn.__version__}. Install a tested version: pip install 'scikit-learn>=1.6,<1.8'")

from sklearn.utils._param_validation import (  # noqa: E402  (after the version check)
    HasMethods,
    Interval,
    Options,
    StrOptions,
)

__all__ = ["HasMethods", "Interval", "Options", "StrOptions"]
