"""STCNet: 3D ResNet/ResNeXt with spatio-temporal channel correlation (Diba et al.)."""
import copy
import math
from numbers import Integral, Real

import keras
import numpy as np

from actionzoo._sklearn_compat import Interval
from actionzoo.estimators._clip_base import PIXEL_MEAN, PIXEL_STD, ClipClassifierBase
from actionzoo.estimators._progress import EpochProgressBar
from actionzoo.estimators._training import NonFiniteError, released_traces, seeded
from actionzoo.models import correspondence_pairs, frame_clip_correspondence, resnet3d


class STCNet(ClipClassifierBase):
    """3D ResNet / ResNeXt with STC blocks on RGB clips.

    Implements Diba et al., "Spatio-Temporal Channel Correlation Networks
    for Action Classification": a 3D ResNet (Hara et al.) whose every
    residual branch is rescaled by an :class:`~actionzoo.layers.STCBlock`
    (temporal and spatial channel-correlation branches) before the add
    (:func:`actionzoo.models.resnet3d`). ``stc=False`` gives the plain 3D
    ResNet baseline. :meth:`transfer_from_2d` pre-trains the 3D network
    from a frozen 2D network on unlabelled videos (paper Sec. 3.2); the
    next ``fit`` starts from the transferred weights.

    X is a 1-D array of video file paths (streamed through
    :mod:`actionzoo.data`) or a uint8 array ``(n, T, H, W, 3)``; prediction
    averages class probabilities over ``test_clips`` x ``test_crops`` views.

    Parameters
    ----------
    depth : {18, 34, 50, 101}, default=101
    cardinality : int, default=32
        32 with depth 101 is STC-ResNeXt-101 (the paper's best); 1 gives
        STC-ResNet.
    stc : bool, default=True
        STC blocks on/off (off: the plain 3D ResNet of the same size).
    reduction : int, default=4
        STC reduction ratio ``r`` (paper: 4).
    branches : tuple of {"temporal", "spatial"}, default=("temporal", "spatial")
    width : float, default=1.0
        Channel width multiplier (small values for quick experiments).
    dropout : float, default=0.0
    weights : str or path-like, default=None
        Weights to start from, as for :class:`CorrelationNet`: a registry
        name (``"stc_resnet18.demo"``; its architecture, clip length and
        temporal centring must be this estimator's, which
        ``STCNet(**STCNet.pretrained_params(name), weights=name)`` ensures),
        a ``.keras`` model (layers copied by name, the classifier replaced
        when the class count differs) or a ``.weights.h5`` file.
    clip_length : int, default=16
        Paper: 16 or 32 frames.
    frame_stride : int, default=2
        Paper Table 6: stride 2 is best.
    crop_size : int, default=112
    short_side : int, default=128
    flip : bool, default=True
    test_clips : int, default=10
    test_crops : {1, 3, 10}, default=1
        Paper: centre crop.
    optimizer : str or keras Optimizer class, default="sgd"
    learning_rate : float or schedule, default=0.1
    optimizer_kwargs : dict or None, default=None
        ``None`` gives the paper's SGD with Nesterov momentum 0.9 and weight
        decay 1e-4 (decoupled, equal to L2 for SGD without momentum).
    lr_schedule : {"constant", "cosine"}, default="constant"
        The paper lowers the rate 10x by hand when the validation loss
        saturates: pass ``keras.callbacks.ReduceLROnPlateau`` in
        ``callbacks`` with ``validation_fraction`` for that.
    warmup_epochs : float, default=0
    epochs : int, default=200
    batch_size : int, default=128
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
        Float clips normalised as ``(x / 255 - 0.45) / 0.225`` -> logits.
    history_ : dict
    skipped_ : list of (path, error)
    transfer_weights_ : dict
        Set by :meth:`transfer_from_2d`: layer name -> weights of the 3D
        network after knowledge transfer (the next fit's starting point).
    transfer_history_ : dict
        Per-epoch ``loss`` and ``accuracy`` of the correspondence task.

    Examples
    --------
    >>> import numpy as np
    >>> from actionzoo import STCNet
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(8, 10, 36, 36, 3), dtype=np.uint8)
    >>> y = np.array([0, 1] * 4)
    >>> clf = STCNet(depth=18, cardinality=1, width=0.125, clip_length=4, crop_size=32,
    ...              short_side=36, test_clips=2, learning_rate=0.01, epochs=1,
    ...              batch_size=4, random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape, clf.transform(X).shape
    ((8, 2), (8, 64))
    """

    _parameter_constraints = {
        **ClipClassifierBase._parameter_constraints,
        "depth": [Interval(Integral, 1, None, closed="left")],
        "cardinality": [Interval(Integral, 1, None, closed="left")],
        "stc": ["boolean"],
        "reduction": [Interval(Integral, 1, None, closed="left")],
        "branches": [tuple, list, str],
        "width": [Interval(Real, 0, None, closed="neither")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }
    _default_optimizer_kwargs = {"sgd": {"momentum": 0.9, "nesterov": True,
                                         "weight_decay": 1e-4}}
    _builder = "resnet3d"
    _architecture_params = {name: name for name in (
        "depth", "cardinality", "stc", "reduction", "branches", "width", "clip_length")}

    def __init__(self, depth=101, cardinality=32, stc=True, reduction=4,
                 branches=("temporal", "spatial"), width=1.0, dropout=0.0, weights=None,
                 clip_length=16, frame_stride=2, crop_size=112, short_side=128, flip=True,
                 test_clips=10, test_crops=1, optimizer="sgd", learning_rate=0.1,
                 optimizer_kwargs=None, lr_schedule="constant", warmup_epochs=0,
                 epochs=200, batch_size=128, callbacks=None, validation_fraction=None,
                 class_weight=None, warm_start=False, temporal_center=False, on_error="raise",
                 num_workers="auto", random_state=None,
                 verbose=0, distribution=None, checkpoint_dir=None):
        self.depth = depth
        self.cardinality = cardinality
        self.stc = stc
        self.reduction = reduction
        self.branches = branches
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
        """Train on videos, from the :meth:`transfer_from_2d` weights if any.

        Parameters
        ----------
        X : array of video paths (n,) or uint8 array (n, T, H, W, 3)
        y : array-like of shape (n,)
        sample_weight : array-like of shape (n,), default=None

        Returns
        -------
        self : STCNet
        """
        initialize = None
        if hasattr(self, "transfer_weights_"):
            def initialize(model):
                _set_layer_weights(model, self.transfer_weights_)
        return self._fit_keras(X, y, sample_weight, initialize=initialize)

    def _build_backbone(self, n_classes):
        branches = (self.branches,) if isinstance(self.branches, str) else tuple(self.branches)
        return resnet3d(depth=self.depth, cardinality=self.cardinality, stc=self.stc,
                        reduction=self.reduction, branches=branches,
                        clip_length=self.clip_length, input_size=self.crop_size,
                        num_classes=n_classes, width=self.width, dropout=self.dropout)

    # ------------------------------------------------------ knowledge transfer
    def transfer_from_2d(self, teacher, X_unlabelled, *, epochs=150, learning_rate=0.1,
                         batch_size=32, lr_step_epochs=30, teacher_preprocess=None):
        """Pre-train the 3D network from a frozen 2D network (paper Sec. 3.2).

        The image-video correspondence task: each video of ``X_unlabelled``
        gives a clip (drawn like a training clip, new each epoch) and its
        frames; the frozen ``teacher`` embeds the frames (averaged), the 3D
        network the clip; fc layers on the concatenated features (1024 +
        1024 -> fc 512 -> fc 128 -> 2) tell whether frames and clip come
        from the same time stamp of the same video (positive) or from two
        different videos (negative: frames of another video of the same
        mini-batch). Only the 3D network and the fc layers learn. The learned
        3D weights are kept in ``transfer_weights_`` and become the starting
        point of the next :meth:`fit` (which replaces the classifier).

        Parameters
        ----------
        teacher : keras.Model
            2D network, frame ``(H, W, 3)`` -> feature vector (e.g.
            ``keras.applications.ResNet50(include_top=False, pooling="avg")``).
            It is frozen (``trainable = False``).
        X_unlabelled : array of video paths (n,) or uint8 array (n, T, H, W, 3)
            At least two videos.
        epochs : int, default=150
            Paper: 150.
        learning_rate : float, default=0.1
            Paper: 0.1, divided by 10 every ``lr_step_epochs`` epochs.
        batch_size : int, default=32
            Videos per mini-batch (each gives one positive and one negative
            pair). Paper: 32.
        lr_step_epochs : int, default=30
        teacher_preprocess : callable, optional
            Applied to the teacher's frames, given as float32 pixels 0..255
            (e.g. ``keras.applications.resnet.preprocess_input``). Default:
            the frames normalised as ``(x / 255 - 0.45) / 0.225``. The
            teacher always sees the RGB frames (paper Fig. 2: "the 2D network
            operates on RGB frames"), also with ``temporal_center=True``,
            where only the 3D network's clip is temporally centred (a
            centred frame is no image an image-trained teacher knows).

        Returns
        -------
        self : STCNet
        """
        self._validate_params()
        if not isinstance(teacher, keras.Model):
            raise TypeError(f"teacher must be a keras.Model, got {type(teacher).__name__}")
        inputs = self._check_X(X_unlabelled, reset=True)
        if int(batch_size) < 2 or int(epochs) < 1:
            raise ValueError(f"transfer_from_2d needs batch_size >= 2 (negative pairs come "
                             f"from the same mini-batch) and epochs >= 1; got "
                             f"batch_size={batch_size}, epochs={epochs}")
        if len(inputs) < 2:
            raise ValueError("transfer_from_2d needs at least 2 videos (negative pairs "
                             "pair frames and clips of different videos)")
        seed = self._seed()
        rng = np.random.default_rng(seed)
        # seeded and traced like every fit (see actionzoo.estimators._training)
        with seeded(seed), released_traces():
            full = self._build_model(inputs, 2)
            student = keras.Model(full.input, full.get_layer("embedding").output,
                                  name="student")
            network = frame_clip_correspondence(teacher, student)
            steps = math.ceil(len(inputs) / batch_size)
            schedule = keras.optimizers.schedules.ExponentialDecay(
                float(learning_rate), decay_steps=lr_step_epochs * steps, decay_rate=0.1,
                staircase=True)
            network.compile(
                optimizer=keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                               weight_decay=1e-4),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])

            def to_teacher(frames):
                if teacher_preprocess is None:
                    return frames
                return teacher_preprocess((frames * PIXEL_STD + PIXEL_MEAN) * 255.0)

            # Clips are drawn un-centred: the teacher gets the RGB frames, the
            # student its own input (centred here if temporal_center).
            rgb_source = copy.copy(self)
            rgb_source.temporal_center = False
            batches = rgb_source._training_batches(inputs, np.zeros(len(inputs), "int32"), None,
                                                   seed)
            # batch_size above is the estimator's; re-batch to the transfer batch size.
            history = {"loss": [], "accuracy": []}
            bar = EpochProgressBar(epochs, "transfer_from_2d") if self.verbose else None
            if bar is not None:
                bar.on_train_begin()
            for epoch in range(epochs):
                losses, accuracies = [], []
                for clips in _rebatch(_iterate(batches), batch_size):
                    if len(clips) < 2:
                        continue
                    student_clips = clips
                    if self.temporal_center:  # = normalize_pixels(pixels, temporal_center=True)
                        student_clips = clips - clips.mean(axis=1, keepdims=True)
                    # One pairing for both views: RGB channels 0-2, student input 3-5.
                    frames, pair_clips, match = correspondence_pairs(
                        np.concatenate([clips, student_clips], axis=-1), random_state=rng)
                    loss, accuracy = network.train_on_batch(
                        [to_teacher(frames[..., :3]), pair_clips[..., 3:]], match,
                        return_dict=False)[:2]
                    if not np.isfinite(loss):
                        raise NonFiniteError(
                            f"STCNet.transfer_from_2d: the loss became {float(loss)} at epoch "
                            f"{epoch + 1}, step {len(losses) + 1}; lower the learning_rate")
                    losses.append(float(loss))
                    accuracies.append(float(accuracy))
                history["loss"].append(float(np.mean(losses)))
                history["accuracy"].append(float(np.mean(accuracies)))
                if bar is not None:
                    bar.on_epoch_end(epoch, {"loss": history["loss"][-1]})
            if bar is not None:
                bar.on_train_end()
        self.transfer_weights_ = {layer.name: layer.get_weights()
                                  for layer in student.layers if layer.weights}
        self.transfer_history_ = history
        return self


def _iterate(batches):
    """Clip arrays of one pass over a PyDataset or a tf.data.Dataset."""
    if isinstance(batches, keras.utils.PyDataset):
        for i in range(len(batches)):
            yield np.asarray(batches[i][0])
        batches.on_epoch_end()
    else:
        for x, _ in batches:
            yield np.asarray(x)


def _rebatch(arrays, size):
    """Concatenate/split consecutive batches into batches of ``size`` rows."""
    pending = []
    count = 0
    for array in arrays:
        pending.append(array)
        count += len(array)
        while count >= size:
            joined = np.concatenate(pending)
            yield joined[:size]
            pending, count = [joined[size:]], count - size
    if count:
        yield np.concatenate(pending)


def _set_layer_weights(model, weights):
    """Load ``{layer name: weights}`` into ``model`` (all but the classifier).

    The transferred layers must be exactly the model's (same names and
    shapes): a changed architecture is an error, never a partial load.
    """
    layers = {layer.name: layer for layer in model.layers
              if layer.weights and layer.name != "logits"}
    mismatched = sorted(
        name for name in set(layers) | set(weights)
        if name not in layers or name not in weights
        or [w.shape for w in weights[name]] != [tuple(v.shape) for v in layers[name].weights])
    if mismatched:
        raise ValueError(f"transfer_from_2d was run with another architecture: layers "
                         f"{mismatched[:8]} differ; run it again")
    for name, layer in layers.items():
        layer.set_weights(weights[name])
