"""VideoResNetClassifier: R3D-18, MC3-18, R(2+1)D-18/34 on RGB clips (Tran et al. 2018)."""
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from actionzoo.estimators._clip_base import ClipClassifierBase
from actionzoo.models import correlation_video_resnet, video_resnet

# torchvision's Kinetics-400 input statistics (the converted checkpoints' normalisation)
_KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
_KINETICS_STD = (0.22803, 0.22145, 0.216989)


class VideoResNetClassifier(ClipClassifierBase):
    """The video ResNets of Tran et al. (2018) as a scikit-learn classifier.

    ``architecture`` picks the network of :func:`actionzoo.models.video_resnet`:
    torchvision's R3D-18, MC3-18 and R(2+1)D-18, or VMZ's R(2+1)D-34. Their
    published Kinetics-400 and IG-65M weights are registry entries
    (``r2plus1d_18.kinetics400``, ``r2plus1d_34.ig65m_kinetics400_clip8``,
    ...), converted from PyTorch on first use; :meth:`from_pretrained`
    returns a fitted classifier over the entry's classes, and ``fit``
    fine-tunes it.

    X is a 1-D array of video file paths (streamed through
    :mod:`actionzoo.data`) or a uint8 array ``(n, T, H, W, 3)``; prediction
    averages class probabilities over ``test_clips`` x ``test_crops``
    views. Pixels are normalised with the weights' mean and std
    (torchvision's Kinetics statistics by default).

    With ``correlation=True`` the network is CorrNet's extension to these
    backbones (:func:`actionzoo.models.correlation_video_resnet`): a
    correlation-sum block after res2, res3 and res4 whose restore BN starts
    at zero gamma, so fine-tuning starts exactly from the pretrained
    backbone's function (our extension: the paper trains CorrNet from
    scratch and publishes no weights).

    Parameters
    ----------
    architecture : {"r3d_18", "mc3_18", "r2plus1d_18", "r2plus1d_34"}, default="r2plus1d_18"
    correlation : bool, default=False
        Insert correlation-sum blocks (kernel 7, dilation 2, groups of
        ``group_size`` channels) after res2-res4; the registry weights fill
        the backbone, the blocks start at zero contribution.
    group_size : int, default=32
        Correlation group size (must divide 64).
    dropout : float, default=0.0
        Dropout before the classifier (the published networks have none).
    weights : str or path-like, default=None
        A registry name (see :func:`actionzoo.weights.list_pretrained`), a
        weights file named after one, a ``.keras`` model or a
        ``.weights.h5`` file to start from; as for
        :class:`~actionzoo.CorrelationNet`.
    clip_length : int, default=16
    frame_stride : int, default=1
    crop_size : int, default=112
    short_side : int, default=128
        torchvision resizes to 128x171 and crops 112.
    flip : bool, default=True
    test_clips : int, default=5
    test_crops : {1, 3, 10}, default=1
    optimizer : str or keras Optimizer class, default="sgd"
    learning_rate : float or schedule, default=0.01
        A fine-tuning rate (torchvision trains from scratch at 0.01 per 8
        clips too).
    optimizer_kwargs : dict or None, default=None
        ``None`` gives SGD momentum 0.9, weight decay 1e-4.
    lr_schedule : {"cosine", "constant"}, default="cosine"
    warmup_epochs : float, default=1
    epochs : int, default=10
    batch_size : int, default=8
    temporal_center : bool, default=False
    on_error : {"raise", "skip"}, default="raise"
    num_workers : int, default=0
    callbacks, validation_fraction, class_weight, warm_start, random_state, verbose
        See :class:`actionzoo.estimators._base.KerasClassifierBase`.
    distribution, checkpoint_dir : default=None
        See :class:`actionzoo.estimators._base.KerasEstimatorMixin`.

    Attributes
    ----------
    classes_ : ndarray
    model_ : keras.Model
        Float clips ``(clip_length, crop_size, crop_size, 3)`` -> logits,
        pooled embedding in layer ``"embedding"`` (512-d).
    history_ : dict
    skipped_ : list of (path, error)

    Examples
    --------
    >>> import numpy as np
    >>> from actionzoo import VideoResNetClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(4, 4, 36, 36, 3), dtype=np.uint8)
    >>> y = np.array([0, 1, 0, 1])
    >>> clf = VideoResNetClassifier(architecture="mc3_18", clip_length=4, crop_size=32,
    ...                             short_side=36, test_clips=1, epochs=1, batch_size=4,
    ...                             random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape, clf.transform(X).shape
    ((4, 2), (4, 512))
    >>> k400 = VideoResNetClassifier.from_pretrained("r2plus1d_18.kinetics400")  # doctest: +SKIP
    """

    _parameter_constraints = {
        **ClipClassifierBase._parameter_constraints,
        "architecture": [StrOptions({"r3d_18", "mc3_18", "r2plus1d_18", "r2plus1d_34"})],
        "correlation": ["boolean"],
        "group_size": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }
    _default_optimizer_kwargs = {"sgd": {"momentum": 0.9, "weight_decay": 1e-4}}
    _builder = "video_resnet"
    _architecture_params = {"architecture": "architecture", "clip_length": "clip_length"}
    _pixel_mean = _KINETICS_MEAN
    _pixel_std = _KINETICS_STD

    def __init__(self, architecture="r2plus1d_18", correlation=False, group_size=32,
                 dropout=0.0, weights=None, clip_length=16,
                 frame_stride=1, crop_size=112, short_side=128, flip=True, test_clips=5,
                 test_crops=1, optimizer="sgd", learning_rate=0.01, optimizer_kwargs=None,
                 lr_schedule="cosine", warmup_epochs=1, epochs=10, batch_size=8,
                 callbacks=None, validation_fraction=None, class_weight=None,
                 warm_start=False, temporal_center=False, on_error="raise", num_workers=0,
                 random_state=None, verbose=0, distribution=None, checkpoint_dir=None):
        self.architecture = architecture
        self.correlation = correlation
        self.group_size = group_size
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
        """Train (or fine-tune, with ``weights``) on videos.

        Parameters
        ----------
        X : array of video paths (n,) or uint8 array (n, T, H, W, 3)
        y : array-like of shape (n,)
            Labels (any hashable; kept in ``classes_``).
        sample_weight : array-like of shape (n,), default=None

        Returns
        -------
        self : VideoResNetClassifier
        """
        return self._fit_keras(X, y, sample_weight)

    def _build_backbone(self, n_classes):
        kwargs = dict(clip_length=self.clip_length, input_size=self.crop_size,
                      num_classes=n_classes, dropout=self.dropout)
        if self.correlation:
            return correlation_video_resnet(self.architecture, group_size=self.group_size,
                                            **kwargs)
        return video_resnet(self.architecture, **kwargs)

    def _fresh_layers(self):
        return ("corr2_", "corr3_", "corr4_") if self.correlation else ()
