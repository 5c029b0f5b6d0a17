"""CorrNetFusion: the correlation network with Shannon fusion (Yudistira & Kurita)."""
from numbers import Real

import keras
import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from actionzoo._sklearn_compat import Interval, StrOptions
from actionzoo.estimators._base import KerasClassifierBase, softmax
from actionzoo.estimators._batches import ArrayBatches, slice_inputs
from actionzoo.estimators._two_stream_scores import (
    ODD_WIDTH_REASON,
    check_scores_match_classes,
    check_two_stream_scores,
    structural_failed_checks,
)
from actionzoo.models import corrnet_fusion_mlp


def entropy_bits(proba):
    """Shannon entropy (bits) of each row of a probability matrix (Eq. 8)."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-300, 1.0)
    return -(p * np.log2(p)).sum(axis=1)


class CorrNetFusion(ClassNamePrefixFeaturesOutMixin, TransformerMixin, KerasClassifierBase):
    """Correlation network over two fixed streams' class scores, with Shannon fusion.

    Implements Yudistira & Kurita, "Correlation Net: spatiotemporal
    multimodal deep learning for action recognition". The raw (pre-softmax)
    class scores ``u`` (RGB stream) and ``v`` (flow stream) of an already
    trained two-stream network are correlated, ``C = u v^T``, each row of
    ``C`` is L2-normalised (Eq. 2), and an MLP (fc1 4096 -> fc2 4096 -> fc3
    n_classes) maps the flattened map to class scores ``Z``, trained with
    cross-entropy on ``Z`` while the streams stay fixed (Eq. 3 with fixed
    streams). At test time (Sec. III)::

        fusion="sum":  softmax(Z + u + v)
        fusion="avg":  softmax(Z + 0.5 (u + v))
        fusion="none": softmax(Z)                 (the paper's "correlation" row)

    and the Shannon gate drops ``Z`` for a sample whose entropy in bits of
    ``softmax(Z + u + v)`` is ``>= entropy_threshold``. ``fusion`` and
    ``entropy_threshold`` act at prediction only: change them with
    ``set_params`` on a fitted estimator without refitting.

    Column ``j`` of each stream must hold the score of ``classes_[j]``
    (labels in sorted order) for ``fusion="sum"``/``"avg"``.

    Parameters
    ----------
    hidden_units : tuple of int, default=(4096, 4096)
        Widths of fc1, fc2 (and any further hidden layers).
    normalize : {"row_l2"} or None, default="row_l2"
        Row-wise L2 normalisation of the correlation map (epsilon-safe).
    fusion : {"sum", "avg", "none"}, default="sum"
        Test-time fusion of ``Z`` with the stream scores.
    entropy_threshold : float or None, default=1.0
        Shannon gate threshold in bits; ``None`` never gates. Unused with
        ``fusion="none"``.
    dropout : float, default=0.0
        Dropout after each hidden layer (the paper uses none).
    optimizer : str or keras Optimizer class, default="sgd"
    learning_rate : float or schedule, default=0.001
    optimizer_kwargs : dict or None, default=None
        ``None`` gives the paper's SGD momentum 0.9. Also ``optimizer__<name>``.
    epochs : int, default=200
        Paper: 200 epochs.
    batch_size : int, default=8
        Paper: mini-batches of 8.
    callbacks, validation_fraction, class_weight, warm_start, random_state, verbose
        See :class:`actionzoo.estimators._base.KerasClassifierBase`.
    distribution, checkpoint_dir : default=None
        Training under a ``tf.distribute`` strategy (several GPUs or hosts)
        and epoch backups to resume from; see ``docs/distributed.md`` and
        :class:`actionzoo.estimators._base.KerasEstimatorMixin`.

    Attributes
    ----------
    classes_ : ndarray
        Class labels.
    n_scores_ : int
        Scores per stream (C).
    n_features_in_ : int
        ``2 * C``, when fitted on the 2-D form.
    model_ : keras.Model
        The fitted correlation network ``Z(u, v)`` (logits).
    history_ : dict
        Per-epoch ``loss`` and ``accuracy`` (plus ``val_*``).

    Notes
    -----
    X may be ``(n, 2*C)``, ``(n, 2, C)`` or per-frame ``(n, 2, T, C)``. In
    the per-frame form each epoch pairs a random RGB frame with a random
    flow frame of every video (the paper's "random combination of output
    vectors"); prediction averages ``Z`` over the T aligned frame pairs and
    fuses it with the frame-averaged stream scores.

    Examples
    --------
    >>> import numpy as np
    >>> from actionzoo import CorrNetFusion
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=60)
    >>> X = rng.normal(size=(60, 2, 3)) + 3 * np.eye(3)[y][:, None, :]
    >>> clf = CorrNetFusion(hidden_units=(32, 32), epochs=5, random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape, clf.transform(X).shape
    ((60, 3), (60, 32))
    >>> clf.set_params(fusion="avg", entropy_threshold=None).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **KerasClassifierBase._parameter_constraints,
        "hidden_units": [tuple, list],
        "normalize": [StrOptions({"row_l2"}), None],
        "fusion": [StrOptions({"sum", "avg", "none"})],
        "entropy_threshold": [Interval(Real, 0, None, closed="left"), None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }
    _default_optimizer_kwargs = {"sgd": {"momentum": 0.9}}

    def __init__(self, hidden_units=(4096, 4096), normalize="row_l2", fusion="sum",
                 entropy_threshold=1.0, dropout=0.0, optimizer="sgd", learning_rate=1e-3,
                 optimizer_kwargs=None, epochs=200, batch_size=8, callbacks=None,
                 validation_fraction=None, class_weight=None, warm_start=False,
                 random_state=None, verbose=0, distribution=None, checkpoint_dir=None):
        self.hidden_units = hidden_units
        self.normalize = normalize
        self.fusion = fusion
        self.entropy_threshold = entropy_threshold
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.optimizer_kwargs = optimizer_kwargs
        self.epochs = epochs
        self.batch_size = batch_size
        self.callbacks = callbacks
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.distribution = distribution
        self.checkpoint_dir = checkpoint_dir

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None, init_from=None):
        """Fit the correlation network on two-stream scores.

        Parameters
        ----------
        X : array-like of shape (n, 2*C), (n, 2, C) or (n, 2, T, C)
            Raw class scores of the RGB and flow streams.
        y : array-like of shape (n,)
            Labels (any hashable; kept in ``classes_``).
        sample_weight : array-like of shape (n,), default=None
            Per-sample weights of the cross-entropy.
        init_from : CorrNetFusion, default=None
            A fitted CorrNetFusion (possibly on another label set, paper
            Sec. IV: UCF101 -> HMDB51) whose fc1 weights are tiled over the
            new correlation map and whose further hidden layers are copied;
            the output layer starts anew.

        Returns
        -------
        self : CorrNetFusion
        """
        initialize = None
        if init_from is not None:
            if self.warm_start and hasattr(self, "model_"):
                raise ValueError("init_from and warm_start=True on a fitted estimator "
                                 "conflict: choose one starting point")
            if not isinstance(init_from, CorrNetFusion):
                raise TypeError(f"init_from must be a fitted CorrNetFusion, got "
                                f"{type(init_from).__name__}")
            check_is_fitted(init_from)

            def initialize(model):
                transfer_hidden_weights(init_from.model_, model)
        return self._fit_keras(X, y, sample_weight, initialize=initialize)

    def _check_X(self, X, *, reset):
        return check_two_stream_scores(self, X, reset=reset)

    def _build_model(self, inputs, n_classes):
        units = tuple(self.hidden_units)
        if not units or not all(isinstance(u, (int, np.integer)) and u > 0 for u in units):
            raise ValueError(f"hidden_units must be a non-empty tuple of positive ints, "
                             f"got {self.hidden_units!r}")
        if self.fusion != "none":
            check_scores_match_classes(self)
        return corrnet_fusion_mlp(self.n_scores_, n_classes, hidden_units=units,
                                  normalize=self.normalize, dropout=self.dropout)

    def _training_batches(self, inputs, y, sample_weight, seed, *, shuffle=True):
        rgb, flow = inputs
        if rgb.ndim == 2:
            make = slice_inputs([rgb, flow])
        else:
            def make(idx, rng):
                # A random RGB frame and an independent random flow frame per video.
                t_rgb = rng.integers(rgb.shape[1], size=len(idx))
                t_flow = rng.integers(flow.shape[1], size=len(idx))
                return [rgb[idx, t_rgb], flow[idx, t_flow]]
        return ArrayBatches(make, y, sample_weight, self.batch_size, seed, shuffle=shuffle)

    # ------------------------------------------------------------ inference
    def _per_frame_mean(self, model, rgb, flow):
        """``model`` on aligned frame pairs, averaged over frames."""
        if rgb.ndim == 2:
            return self._run_model(model, [rgb, flow])
        n, t, c = rgb.shape
        out = self._run_model(model, [rgb.reshape(n * t, c), flow.reshape(n * t, c)])
        return out.reshape(n, t, -1).mean(axis=1)

    def correlation_scores(self, X):
        """The correlation network's own class scores ``Z`` (logits).

        Parameters
        ----------
        X : array-like of shape (n, 2*C), (n, 2, C) or (n, 2, T, C)

        Returns
        -------
        Z : ndarray of shape (n, n_classes)
        """
        check_is_fitted(self)
        rgb, flow = self._check_X(X, reset=False)
        return self._per_frame_mean(self.model_, rgb, flow)

    def decision_scores(self, X):
        """Fused, gated class scores whose softmax is ``predict_proba``."""
        check_is_fitted(self)
        self._validate_params()
        rgb, flow = self._check_X(X, reset=False)
        z = self._per_frame_mean(self.model_, rgb, flow).astype(np.float64)
        if self.fusion == "none":
            return z
        check_scores_match_classes(self)
        if rgb.ndim == 3:
            rgb, flow = rgb.mean(axis=1), flow.mean(axis=1)
        streams = rgb.astype(np.float64) + flow
        base = streams if self.fusion == "sum" else 0.5 * streams
        if self.entropy_threshold is None:
            return z + base
        keep_z = entropy_bits(softmax(z + streams)) < self.entropy_threshold
        return np.where(keep_z[:, None], z + base, base)

    def predict_proba(self, X):
        """Class probabilities: softmax of the fused scores; rows sum to 1."""
        return softmax(self.decision_scores(X))

    def transform(self, X):
        """The fc2 (last hidden layer) embedding, averaged over frame pairs.

        Returns
        -------
        ndarray of shape (n, hidden_units[-1])
        """
        check_is_fitted(self)
        rgb, flow = self._check_X(X, reset=False)
        embed = keras.Model(self.model_.inputs, self.model_.get_layer("embedding").output)
        return self._per_frame_mean(embed, rgb, flow)

    @property
    def _n_features_out(self):
        return self.model_.get_layer("embedding").units

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _expected_failed_checks(self):
        """sklearn checks that cannot apply to this configuration, with reasons.

        Passed to ``parametrize_with_checks(expected_failed_checks=...)`` by
        the test suite (sklearn >= 1.6 takes the declaration there rather
        than in the tags).
        """
        failed = structural_failed_checks(score_fusion=self.fusion != "none")
        failed.update({
            "check_transformer_data_not_an_array": ODD_WIDTH_REASON,
            "check_transformer_general": ODD_WIDTH_REASON,
            "check_transformer_preserve_dtypes": ODD_WIDTH_REASON,
            "check_sample_weight_equivalence_on_dense_data": (
                "mini-batch SGD: a weight of 2 scales one gradient term while a "
                "repeated sample adds a step, so the fits are not identical"),
            "check_classifiers_train": (
                "the check's blobs have 2 features, i.e. 1 score per stream, whose "
                "row-normalised correlation map is only sign(u*v): not separable"),
        })
        return failed


def transfer_hidden_weights(source, target):
    """Initialise ``target``'s hidden layers from ``source`` (paper Sec. IV).

    fc1 sees the flattened ``C x C`` correlation map; its kernel is viewed
    as ``(C_src, C_src, units)`` and tiled (cyclically repeated, cropped)
    over both class axes to ``(C_tgt, C_tgt, units)``. The other hidden
    layers are copied; the output layer is left as initialised.
    """
    def hidden(model):
        return [layer for layer in model.layers
                if isinstance(layer, keras.layers.Dense) and layer.name != "logits"]

    src_layers, tgt_layers = hidden(source), hidden(target)
    src_units = [layer.units for layer in src_layers]
    tgt_units = [layer.units for layer in tgt_layers]
    if src_units != tgt_units:
        raise ValueError(f"init_from has hidden_units {tuple(src_units)}; this estimator "
                         f"has {tuple(tgt_units)}: they must match to transfer weights")
    c_src = source.inputs[0].shape[-1]
    c_tgt = target.inputs[0].shape[-1]
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in src_layers[0].weights)
    grid = kernel.reshape(c_src, c_src, -1)
    idx = np.arange(c_tgt) % c_src
    tgt_layers[0].set_weights([grid[idx][:, idx].reshape(c_tgt * c_tgt, -1), bias])
    for src, tgt in zip(src_layers[1:], tgt_layers[1:], strict=True):
        tgt.set_weights(src.get_weights())
