"""Registry weights and weight files as the starting point of the clip estimators.

:class:`PretrainedWeightsMixin` gives an estimator ``pretrained_params``
(the hyper-parameters that fit a registry entry), the compatibility check of
``weights=`` against the estimator's hyper-parameters and the model build
that starts from those weights. The functions below copy weights between
Keras models layer by layer.
"""
import inspect
import os

import keras
import numpy as np


class PretrainedWeightsMixin:
    """``weights=`` for estimators building one Keras model with a ``"logits"`` layer.

    Subclasses set ``_builder`` (the :mod:`actionzoo.models` builder of
    their network), ``_architecture_params`` (``{estimator param: builder
    kwarg}`` for the hyper-parameters that fix the weights) and
    ``_preprocessing()`` (the :class:`~actionzoo.weights.Preprocessing`
    their hyper-parameters describe: the normalisation they feed).
    """

    # Subclasses: the actionzoo.models builder of _build_backbone and the
    # hyper-parameters that fix the weights, as {estimator param: builder kwarg}.
    _builder = None
    _architecture_params = {}
    # Builder kwargs an estimator may set freely: they change no weight shape
    # (the networks pool globally) or are replaced in fine-tuning.
    _free_builder_kwargs = ("num_classes", "input_size", "dropout", "name")

    @classmethod
    def pretrained_params(cls, name):
        """Hyper-parameters matching the registry weights ``name``.

        The architecture (the builder's keyword arguments) and the input
        preprocessing (clip length, stride, crop size, short side, test views,
        temporal centring) of the entry, as keyword arguments of this
        estimator. ``Estimator(**Estimator.pretrained_params(name),
        weights=name, epochs=...)`` fine-tunes from those weights.

        Parameters
        ----------
        name : str
            A name of :func:`actionzoo.weights.list_pretrained`.

        Returns
        -------
        dict

        Raises
        ------
        ValueError
            The weights are of another architecture (builder) or use a
            builder argument this estimator does not expose.

        Examples
        --------
        >>> from actionzoo import CorrelationNet
        >>> params = CorrelationNet.pretrained_params("corrnet26.demo")
        >>> params["width"], params["clip_length"], params["temporal_center"]
        (0.125, 8, True)
        """
        from actionzoo import weights as registry

        try:
            info = registry.pretrained_info(name)
        except registry.UnknownWeightsError as exc:
            raise ValueError(str(exc)) from None
        arch = _pretrained_architecture(cls, info)
        prep = info.preprocessing
        params = {param: arch[kwarg] for param, kwarg in cls._architecture_params.items()}
        params.update(clip_length=prep.clip_length, frame_stride=prep.stride,
                      crop_size=prep.input_size, short_side=prep.short_side,
                      test_clips=prep.num_clips, test_crops=prep.crops,
                      temporal_center=prep.temporal_center)
        return params

    def _check_pretrained(self, name):
        """The registry entry of ``name`` after checking it fits this estimator.

        Raises ``ValueError`` naming every hyper-parameter whose value
        differs from the weights' (architecture, clip length, temporal
        centring); crop size, stride, short side and test views may differ
        (fine-tuning choices; the networks pool globally). The pixel mean and
        std always follow the weights (:meth:`_pixel_statistics`).
        """
        from actionzoo import weights as registry

        cls = type(self)
        try:
            info = registry.pretrained_info(name)
        except registry.UnknownWeightsError as exc:
            raise ValueError(f"weights={name!r} is neither a file nor a registry name: "
                             f"{exc}") from None
        arch = _pretrained_architecture(cls, info)
        prep = info.preprocessing
        wanted = {param: arch[kwarg] for param, kwarg in cls._architecture_params.items()}
        wanted.update(clip_length=prep.clip_length, temporal_center=prep.temporal_center)
        mine = {param: _plain(value) for param, value in self.get_params(deep=False).items()}
        mismatched = [f"{param}={mine[param]!r} (weights: {value!r})"
                      for param, value in wanted.items() if mine[param] != value]
        if prep.modality != "rgb":
            mismatched.append(f"input modality rgb (weights: {prep.modality!r})")
        if mismatched:
            raise ValueError(
                f"{cls.__name__}(weights={name!r}): the weights do not fit these "
                f"hyper-parameters: {'; '.join(mismatched)}. Use "
                f"{cls.__name__}(**{cls.__name__}.pretrained_params({name!r}), "
                f"weights={name!r}, ...) to take the weights' architecture and input")
        return info

    def _fresh_layers(self):
        """Name prefixes of layers the weights do not cover (blocks added to their network)."""
        return ()

    def _pixel_statistics(self):
        """Pixel ``(mean, std)`` of the network input: the weights entry's, else the defaults.

        Registry weights (or a file named after an entry) fix the
        normalisation their network was trained with; without them the
        estimator's ``_pixel_mean``/``_pixel_std`` apply.
        """
        info = weights_entry(self.weights)
        if info is None:
            return tuple(self._pixel_mean), tuple(self._pixel_std)
        prep = info.preprocessing
        mean = tuple(self._pixel_mean) if prep.temporal_center else tuple(prep.mean)
        return mean, tuple(prep.std)

    def _build_with_weights(self, build):
        """``build()`` initialised from ``self.weights`` (registry name or file), if any."""
        name = registry_name(self.weights)
        info = self._check_pretrained(name) if name is not None else None
        if info is not None:
            from actionzoo import weights as registry

            registry.download(info.name, verbose=self.verbose)  # before the build: errors early
        elif self.weights is not None:
            info = weights_entry(self.weights)
            if info is not None:
                self._check_pretrained(info.name)
        model = build()
        if info is not None:
            load_pretrained_weights(model, info, getattr(self, "classes_", None),
                                    path=None if name is not None else self.weights,
                                    fresh=self._fresh_layers())
        elif self.weights is not None:
            load_initial_weights(model, self.weights)
        return model

    @classmethod
    def from_pretrained(cls, name, **overrides):
        """A fitted estimator holding the pretrained weights ``name``.

        ``predict``, ``predict_proba`` and ``transform`` work at once, over
        the entry's classes (``classes_``, sorted); ``fit`` fine-tunes from
        the same weights (the classifier is kept when ``y`` has the
        entry's classes, replaced by a new one otherwise).

        Parameters
        ----------
        name : str or path-like
            A registry name (:func:`actionzoo.weights.list_pretrained`) or a
            local weights file named after one (``<name>.weights.h5``, as
            ``actionzoo weights download`` caches it, or ``<name>.keras``).
        **overrides
            Hyper-parameters replacing those of :meth:`pretrained_params`
            (training settings, test views; the architecture must stay).

        Returns
        -------
        estimator
            Fitted: ``classes_``, ``model_`` and an empty ``history_``.

        Raises
        ------
        ValueError
            Unknown name, a file not named after an entry, weights of
            another architecture, or overrides that change it.

        Examples
        --------
        >>> from actionzoo import CorrelationNet
        >>> clf = CorrelationNet.from_pretrained("corrnet26.demo", test_clips=2)
        >>> clf.classes_[:2].tolist(), clf.test_clips
        (['Contract', 'Expand'], 2)
        """
        info = weights_entry(name)
        if info is None:
            from actionzoo import weights as registry

            raise ValueError(f"{os.fspath(name)!r} is neither a registry name nor a weights "
                             f"file named after one (<name>.weights.h5 or <name>.keras); "
                             f"known names: {', '.join(registry.list_pretrained())}")
        if "weights" in overrides:
            raise ValueError("from_pretrained takes the weights from `name`; do not pass "
                             "weights=")
        if registry_name(name) is None and not os.path.isfile(os.fspath(name)):
            raise ValueError(f"{os.fspath(name)!r}: no such weights file")
        estimator = cls(**{**cls.pretrained_params(info.name), **overrides,
                           "weights": name if registry_name(name) else os.fspath(name)})
        estimator._validate_params()
        estimator.classes_ = np.asarray(sorted(info.classes))
        estimator.model_ = estimator._build_model(None, len(info.classes))
        estimator.history_ = {}
        return estimator


def weights_entry(weights):
    """The registry entry ``weights`` names, directly or as ``<name>.weights.h5``/``.keras``.

    ``None`` for anything else (unknown names, other files, ``None``).
    """
    from actionzoo import weights as registry

    if not isinstance(weights, (str, os.PathLike)):
        return None
    entries = registry.default_registry().entries
    name = registry_name(weights)
    if name is None:
        base = os.path.basename(os.fspath(weights))
        name = next((base[:-len(suffix)] for suffix in (".weights.h5", ".keras")
                     if base.endswith(suffix)), None)
    return entries.get(name)


def registry_name(weights):
    """``weights`` if it names registry weights rather than a file, else ``None``.

    A string without a path separator that does not end in ``.keras`` or
    ``.h5`` is a registry name (``"corrnet26.demo"``); write ``./name`` for a
    file of such a name.
    """
    if not isinstance(weights, str) or os.sep in weights or "/" in weights:
        return None
    return None if weights.endswith((".keras", ".h5")) else weights


def _plain(value):
    """Hyper-parameter value comparable with its JSON form (tuples as lists)."""
    if isinstance(value, tuple):
        return list(value)
    return value


def _pretrained_architecture(cls, info):
    """Builder kwargs of ``info`` with the builder's defaults filled in; checks the builder."""
    from actionzoo import models

    builder = info.architecture["builder"]
    if builder != cls._builder:
        raise ValueError(f"{cls.__name__} cannot use weights {info.name!r}: they are of a "
                         f"{builder!r} model, {cls.__name__} builds {cls._builder!r}")
    defaults = {k: p.default for k, p in
                inspect.signature(getattr(models, builder)).parameters.items()
                if p.default is not inspect.Parameter.empty}
    arch = {**defaults, **info.architecture["kwargs"]}
    arch = {k: _plain(v) for k, v in arch.items()}
    exposed = set(cls._architecture_params.values()) | set(cls._free_builder_kwargs)
    hidden = [f"{k}={v!r}" for k, v in info.architecture["kwargs"].items()
              if k not in exposed and k in defaults and _plain(v) != _plain(defaults[k])]
    if hidden:
        raise ValueError(f"{cls.__name__} cannot use weights {info.name!r}: they were built "
                         f"with {', '.join(hidden)}, which {cls.__name__} does not expose")
    return arch


def load_pretrained_weights(model, info, classes=None, path=None, fresh=()):
    """Initialise ``model`` from the registry weights ``info``, for fine-tuning.

    The file is found, downloaded if needed and verified by
    :func:`actionzoo.weights.load_pretrained` (``ACTIONZOO_OFFLINE`` and
    ``ACTIONZOO_WEIGHTS_URL`` apply), or read from ``path`` (a
    ``.weights.h5`` or ``.keras`` file of the entry's architecture). All
    layers are copied by name. The classifier (``"logits"``) is kept only
    when ``classes`` (the estimator's ``classes_``) are the weights' class
    names, its columns reordered to ``classes``; otherwise it stays freshly
    initialised, as do the layers named with a ``fresh`` prefix.
    """
    from actionzoo import weights as registry

    if path is None:
        source = registry.load_pretrained(info.name)
    elif os.fspath(path).endswith(".keras"):
        source = keras.saving.load_model(os.fspath(path), compile=False)
    else:
        source = info.build_model()
        source.load_weights(os.fspath(path))
    logits = model.get_layer("logits")
    initial = logits.get_weights()
    transfer_layer_weights(source, model, skip=("logits",), fresh=fresh)
    logits.set_weights(initial)
    names = [] if classes is None else [str(c) for c in np.asarray(classes).tolist()]
    if sorted(names) == sorted(info.classes) and len(names) == len(set(names)):
        order = [info.classes.index(c) for c in names]
        kernel, bias = source.get_layer("logits").get_weights()
        logits.set_weights([kernel[:, order], bias[order]])
    return model


def load_initial_weights(model, weights):
    """Initialise ``model`` from a saved model or weights file, for fine-tuning.

    ``.keras`` files: every layer whose name and weight shapes match is
    copied; the classifier (``"logits"``) is skipped when its class count
    differs. Any other layer of ``model`` left without weights is an error
    (the file holds another architecture). ``.weights.h5`` files are loaded
    with Keras' ``load_weights(skip_mismatch=True)``.
    """
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise ValueError(f"weights={path!r} is not a file; pass the path of a .keras "
                         f"model or .weights.h5 file")
    if path.endswith(".weights.h5"):
        model.load_weights(path, skip_mismatch=True)
        return model
    if not path.endswith(".keras"):
        raise ValueError(f"weights={path!r}: expected a .keras or .weights.h5 file")
    source = keras.saving.load_model(path, compile=False)
    transfer_layer_weights(source, model, skip=("logits",))
    return model


def transfer_layer_weights(source, target, skip=(), fresh=()):
    """Copy weights layer by layer (matched by name) from ``source`` to ``target``.

    Layers named in ``skip`` are copied only when their shapes match;
    layers whose names start with a prefix in ``fresh`` (blocks the source
    network does not have) keep their initial weights. Raises
    ``ValueError`` naming the other layers of ``target`` with weights that
    found no counterpart.
    """
    by_name = {layer.name: layer for layer in source.layers}
    missing = []
    for layer in target.layers:
        if not layer.weights or layer.name.startswith(tuple(fresh)):
            continue
        src = by_name.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        if src is None or [tuple(w.shape) for w in src.weights] != shapes:
            if layer.name not in skip:
                missing.append(layer.name)
            continue
        layer.set_weights(src.get_weights())
    if missing:
        raise ValueError(f"the weights do not fit this architecture: no matching weights "
                         f"for layers {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    return target
