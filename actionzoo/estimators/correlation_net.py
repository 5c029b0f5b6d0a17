"""CorrelationNet: video classification with learnable correlation (Wang et al.)."""
from numbers import Integral, Real

from actionzoo._sklearn_compat import Interval, StrOptions
from actionzoo.estimators._clip_base import ClipClassifierBase
from actionzoo.models import correlation_net


class CorrelationNet(ClipClassifierBase):
    """Correlation network (or its R(2+1)D / R2D baselines) on RGB clips.

    Implements Wang et al., "Video Modeling with Correlation Networks": an
    R(2+1)D bottleneck backbone with a learnable correlation block after
    res2, res3 and res4 (:func:`actionzoo.models.correlation_net`). The
    correlation operator matches features of each frame with displaced
    features of the previous frame, so the network sees motion explicitly;
    ``variant="r2d"`` (no temporal convolution) is the appearance-only
    baseline of the same builder.

    X is a 1-D array of video file paths (streamed through
    :mod:`actionzoo.data`, never loaded whole) or a uint8 array
    ``(n, T, H, W, 3)``. Training draws one jittered clip per video and
    epoch; prediction averages class probabilities over ``test_clips`` x
    ``test_crops`` views (paper: 10 uniformly spaced clips).

    Parameters
    ----------
    depth : {26, 50, 101}, default=26
    variant : {"corrnet", "r2plus1d", "r2d"}, default="corrnet"
    block : {"sum", "concat"}, default="sum"
        Correlation block type (paper Fig. 2).
    kernel_size, dilation, group_size : int, default 7, 2, 32
        Correlation filter size ``K``, dilation ``D``, group size ``g``.
    learnable : bool, default=True
        Learnable correlation filter (False: the plain operator).
    normalize_correlation : bool, default=True
        Normalise the correlation's channel groups, which keeps its output
        bounded whatever its input's scale; False is the raw dot product
        (see :func:`actionzoo.models.correlation_net`).
    width : float, default=1.0
        Channel width multiplier (small values for quick experiments;
        ``group_size`` must divide the scaled widths 64w, 128w, 256w).
    dropout : float, default=0.0
        Dropout before the classifier.
    weights : str or path-like, default=None
        Weights to fine-tune from: a registry name (``"corrnet26.demo"``,
        see :func:`actionzoo.weights.list_pretrained`; found, downloaded
        and verified by :mod:`actionzoo.weights`), a ``.keras`` model
        (layers copied by name; the classifier is replaced when the class
        count differs) or a ``.weights.h5`` file. Registry weights must fit
        the hyper-parameters (architecture, ``clip_length``,
        ``temporal_center``), else ``fit`` raises a ``ValueError`` naming
        each difference; :meth:`pretrained_params` gives matching values.
        Their classifier is kept when ``y`` has exactly the weights' class
        names, else replaced.
    clip_length : int, default=16
        Frames per clip ``L`` (paper: 16 or 32).
    frame_stride : int, default=1
    crop_size : int, default=224
    short_side : int, default=256
    flip : bool, default=True
    test_clips : int, default=10
    test_crops : {1, 3, 10}, default=1
    optimizer : str or keras Optimizer class, default="sgd"
    learning_rate : float or schedule, default=0.1
    optimizer_kwargs : dict or None, default=None
        ``None`` gives SGD momentum 0.9, weight decay 1e-4.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Paper: cosine schedule with warm-up.
    warmup_epochs : float, default=40
        Linear warm-up from 0 in epochs (paper: 40 of 250 epochs); lower it
        with ``epochs`` (it is capped below the total number of steps).
    epochs : int, default=250
        Paper: 250 epochs on Kinetics.
    batch_size : int, default=8
    temporal_center : bool, default=False
        Subtract each pixel's clip mean from the input (static background
        removed, motion kept); not in the paper.
    on_error : {"raise", "skip"}, default="raise"
    num_workers : int or "auto", default="auto"
        Video files are decoded in this many worker processes (``"auto"``:
        one per usable core when there are several, the fastest measured
        path; ``-1``: one per core; ``0``: in threads of this process); see
        :func:`actionzoo.data.make_dataset`. Same clips either way.
    callbacks, validation_fraction, class_weight, warm_start, random_state, verbose
        See :class:`actionzoo.estimators._base.KerasClassifierBase`.
    distribution, checkpoint_dir : default=None
        Training under a ``tf.distribute`` strategy (several GPUs or hosts)
        and epoch backups to resume from; see ``docs/distributed.md`` and
        :class:`actionzoo.estimators._base.KerasEstimatorMixin`.

    Attributes
    ----------
    classes_ : ndarray
    model_ : keras.Model
        Float clips ``(clip_length, crop_size, crop_size, 3)`` normalised
        as ``(x / 255 - 0.45) / 0.225`` -> logits.
    history_ : dict
    skipped_ : list of (path, error)
        Files left out of the last fit under ``on_error="skip"``.

    Examples
    --------
    >>> import numpy as np
    >>> from actionzoo import CorrelationNet
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(8, 6, 36, 36, 3), dtype=np.uint8)
    >>> y = np.array([0, 1] * 4)
    >>> clf = CorrelationNet(width=0.125, group_size=8, kernel_size=3, dilation=1,
    ...                      clip_length=4, crop_size=32, short_side=36, test_clips=2,
    ...                      epochs=1, batch_size=4, random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape, clf.transform(X).shape
    ((8, 2), (8, 256))
    """

    _parameter_constraints = {
        **ClipClassifierBase._parameter_constraints,
        "depth": [Interval(Integral, 1, None, closed="left")],
        "variant": [StrOptions({"corrnet", "r2plus1d", "r2d"})],
        "block": [StrOptions({"sum", "concat"})],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "dilation": [Interval(Integral, 1, None, closed="left")],
        "group_size": [Interval(Integral, 1, None, closed="left")],
        "learnable": ["boolean"],
        "normalize_correlation": ["boolean"],
        "width": [Interval(Real, 0, None, closed="neither")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }
    _default_optimizer_kwargs = {"sgd": {"momentum": 0.9, "weight_decay": 1e-4}}
    _builder = "correlation_net"
    _architecture_params = {name: name for name in (
        "depth", "variant", "block", "kernel_size", "dilation", "group_size", "learnable",
        "normalize_correlation", "width", "clip_length")}

    def __init__(self, depth=26, variant="corrnet", block="sum", kernel_size=7, dilation=2,
                 group_size=32, learnable=True, normalize_correlation=True, width=1.0,
                 dropout=0.0, weights=None,
                 clip_length=16, frame_stride=1, crop_size=224, short_side=256, flip=True,
                 test_clips=10, test_crops=1, optimizer="sgd", learning_rate=0.1,
                 optimizer_kwargs=None, lr_schedule="cosine", warmup_epochs=40,
                 epochs=250, batch_size=8, callbacks=None, validation_fraction=None,
                 class_weight=None, warm_start=False, temporal_center=False, on_error="raise",
                 num_workers="auto", random_state=None,
                 verbose=0, distribution=None, checkpoint_dir=None):
        self.depth = depth
        self.variant = variant
        self.block = block
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.group_size = group_size
        self.learnable = learnable
        self.normalize_correlation = normalize_correlation
        self.width = width
        self.dropout = dropout
        self.weights = weights
        self.clip_length = clip_length
        self.frame_stride = frame_stride
        self.crop_size = crop_size
        self.short_side = short_side
        self.flip = flip
        self.test_clips = test_clips
        self.test_crops = test_crops
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.optimizer_kwargs = optimizer_kwargs
        self.lr_schedule = lr_schedule
        self.warmup_epochs = warmup_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.callbacks = callbacks
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.temporal_center = temporal_center
        self.on_error = on_error
        self.num_workers = num_workers
        self.random_state = random_state
        self.verbose = verbose
        self.distribution = distribution
        self.checkpoint_dir = checkpoint_dir

    def fit(self, X, y, sample_weight=None):
        """Train on videos.

        Parameters
        ----------
        X : array of video paths (n,) or uint8 array (n, T, H, W, 3)
        y : array-like of shape (n,)
            Labels (any hashable; kept in ``classes_``).
        sample_weight : array-like of shape (n,), default=None

        Returns
        -------
        self : CorrelationNet
        """
        return self._fit_keras(X, y, sample_weight)

    def _build_backbone(self, n_classes):
        return correlation_net(
            depth=self.depth, variant=self.variant, clip_length=self.clip_length,
            input_size=self.crop_size, num_classes=n_classes, block=self.block,
            kernel_size=self.kernel_size, dilation=self.dilation, group_size=self.group_size,
            learnable=self.learnable, normalize_correlation=self.normalize_correlation,
            width=self.width, dropout=self.dropout)
