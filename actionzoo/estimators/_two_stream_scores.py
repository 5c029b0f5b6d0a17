"""Validation of two-stream class scores, the X of the fusion estimators.

Three forms are accepted:

- ``(n, 2*C)``: RGB scores in the first C columns, flow scores in the last C;
- ``(n, 2, C)``: axis 1 is the stream (0 RGB, 1 flow);
- ``(n, 2, T, C)``: per-frame scores of T frames per video and stream.
"""
import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data


def check_two_stream_scores(estimator, X, *, reset):
    """Return ``(rgb, flow)`` float32 arrays of shape ``(n, C)`` or ``(n, T, C)``.

    With ``reset`` the stream width is stored as ``n_scores_`` (and, for the
    2-D form, ``n_features_in_``); otherwise X must match the fitted width.
    """
    name = type(estimator).__name__
    ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
    if ndim == 2:
        X = validate_data(estimator, X, reset=reset, dtype=np.float32)
        if X.shape[1] % 2:
            raise ValueError(
                f"{name}: X has {X.shape[1]} feature(s), an odd number; the 2-D form "
                "is [RGB scores | flow scores] with C columns each")
        width = X.shape[1] // 2
        rgb, flow = X[:, :width], X[:, width:]
    elif ndim in (3, 4):
        X = check_array(X, allow_nd=True, dtype=np.float32)
        if X.shape[1] != 2:
            raise ValueError(
                f"{name}: axis 1 of X must hold the 2 streams (RGB, flow); "
                f"X has shape {X.shape}")
        if reset and hasattr(estimator, "n_features_in_"):
            del estimator.n_features_in_
        rgb, flow = X[:, 0], X[:, 1]
    else:
        raise ValueError(
            f"{name}: X must have shape (n, 2*C), (n, 2, C) or (n, 2, T, C); "
            f"got {ndim}-D input of shape {np.shape(X)}")
    width = rgb.shape[-1]
    if reset:
        estimator.n_scores_ = width
    elif width != estimator.n_scores_:
        raise ValueError(
            f"{name}: X has {width} scores per stream but the estimator was fitted "
            f"on {estimator.n_scores_}")
    return rgb, flow


def check_scores_match_classes(estimator):
    """Score fusion adds stream scores to class scores: widths must agree."""
    if estimator.n_scores_ != len(estimator.classes_):
        raise ValueError(
            f"{type(estimator).__name__}: each stream has {estimator.n_scores_} score "
            f"columns but y has {len(estimator.classes_)} classes; column j of each "
            "stream must hold the score of classes_[j]")


# sklearn's generic checks feed 2-D data of arbitrary width; two-stream
# scores have a structure such data lacks. The checks that fail only because
# of it are declared (with these reasons) by the estimators.
ODD_WIDTH_REASON = ("the check's X has an odd number of columns, which cannot be "
                    "split into [RGB scores | flow scores]; the estimator rejects it")
CLASS_WIDTH_REASON = ("score fusion adds stream scores to class scores, so each stream "
                      "needs one column per class; the check's X has "
                      "n_features != 2 * n_classes and is rejected")
ODD_WIDTH_CHECKS = (
    "check_classifiers_one_label", "check_dict_unchanged",
    "check_dont_overwrite_parameters", "check_estimators_dtypes",
    "check_estimators_nan_inf", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit2d_predict1d",
    "check_fit_score_takes_y", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_pipeline_consistency",
    "check_sample_weights_list", "check_supervised_y_2d",
)
CLASS_WIDTH_CHECKS = (
    "check_classifier_data_not_an_array", "check_classifiers_classes",
    "check_classifiers_train", "check_dtype_object",
    "check_estimators_fit_returns_self", "check_estimators_overwrite_params",
    "check_fit_check_is_fitted", "check_fit_idempotent", "check_n_features_in",
    "check_readonly_memmap_input", "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weights_not_an_array", "check_sample_weights_not_overwritten",
    "check_sample_weights_shape", "check_positive_only_tag_during_fit",
    "check_sample_weights_pandas_series", "check_class_weight_classifiers",
)


def structural_failed_checks(score_fusion):
    """sklearn checks inapplicable to two-stream scores, with reasons."""
    failed = {name: ODD_WIDTH_REASON for name in ODD_WIDTH_CHECKS}
    if score_fusion:
        failed.update({name: CLASS_WIDTH_REASON for name in CLASS_WIDTH_CHECKS})
    return failed
