"""Spatio-temporal fusion network of Cho & Foroosh (Sec. 3, Fig. 4, Fig. 5, Eq. 1)."""
import keras
import numpy as np

from actionzoo.layers.residual_inception_1d import ResidualInception1D
from actionzoo.layers.score_fusion import ScoreFusion

FUSIONS = {"avg": keras.layers.Average, "max": keras.layers.Maximum,
           "mul": keras.layers.Multiply}
DIRECTIONS = ("bidirectional", "a_to_m", "m_to_a")
ARCHITECTURES = ("a", "b", "c")


def _blocks(x, n_blocks, filters, prefix, block_kwargs):
    for i in range(n_blocks):
        x = ResidualInception1D(filters, name=f"{prefix}_resinc{i + 1}", **block_kwargs)(x)
    return x


def _head(x, num_classes, dropout, prefix):
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{prefix}_dropout")(x)
    return keras.layers.Dense(num_classes, name=f"{prefix}_logits")(x)


def stfn(n_segments, feature_dim, num_classes, filters=None, fusion="avg",
         direction="bidirectional", architecture="a", n_blocks=1, dropout=0.0,
         score_fusion="softmax", kernel_sizes=(2, 3, 4, 5), kernel_regularizer=None,
         input_mean=None, input_scale=None, name="stfn"):
    """Build STFN over appearance and motion feature sequences.

    Inputs are two sequences of per-segment CNN features, ``appearance`` and
    ``motion``, each ``(batch, n_segments, feature_dim)``. ``F`` below is a
    chain of ``n_blocks`` :class:`ResidualInception1D` blocks, ``G`` the
    element-wise fusion, ``H`` a per-stream head (temporal average ->
    dropout -> linear class scores).

    - ``architecture="a"`` (Fig. 4a, the paper's model, Eq. 1):
      ``P_a = F(app)``, ``P_m = F(mot)``, ``P' = G(P_a, P_m)``; the
      appearance stream continues with ``F_fa`` on ``P'`` (``direction`` in
      bidirectional / m_to_a) or on ``P_a`` (a_to_m); the motion stream with
      ``F_fm`` on ``P'`` (bidirectional / a_to_m) or on ``P_m`` (m_to_a)
      (Fig. 5: the fused signal is injected into the receiving stream).
      Scores ``H(F_fa(.)) + H(F_fm(.))``.
    - ``"b"`` (Fig. 4b): as ``"a"`` without the blocks after fusion; each
      stream's head reads ``P'`` or its own ``P_x`` by the same direction rule.
    - ``"c"`` (Fig. 4c): feature-level fusion: ``concat(app, mot)`` along
      features -> ``F`` (``n_blocks`` blocks of ``2 * filters`` channels,
      the paper's "filters = input dimension") -> one head. ``fusion`` and
      ``direction`` do not apply and must stay at their defaults.

    The per-stream scores are combined by :class:`ScoreFusion`
    (``score_fusion="softmax"``: average of the softmax outputs, as Eq. 1,
    returned as logits; ``"logits"``: sum of raw scores).

    Parameters
    ----------
    n_segments : int or None
        Segments per video N (paper: 5, best 7). None allows any length.
    feature_dim : int
        Per-segment feature dimension d of each stream (paper: 2048).
    num_classes : int
        Number of output logits.
    filters : int, optional
        Channels of every Res-Inc block (default ``feature_dim``, as in the
        paper); must be divisible by ``len(kernel_sizes)``.
    fusion : {"avg", "max", "mul"}, default="avg"
        Element-wise fusion G (Eq. 4-6).
    direction : {"bidirectional", "a_to_m", "m_to_a"}, default="bidirectional"
        Which stream(s) receive the fused sequence (Fig. 5, Table 3).
    architecture : {"a", "b", "c"}, default="a"
        Paper Fig. 4a / 4b / 4c.
    n_blocks : int, default=1
        Res-Inc blocks per stream before the fusion and (``"a"``) again after
        it; the paper's model has 1 (two consecutive blocks per stream), its
        four-block experiment corresponds to 2.
    dropout : float, default=0.0
        Dropout before each head (the paper states none).
    score_fusion : {"softmax", "logits"}, default="softmax"
        How per-stream scores are combined.
    kernel_sizes : tuple of int, default=(2, 3, 4, 5)
        Res-Inc branch kernels.
    kernel_regularizer : str or keras.regularizers.Regularizer, optional
        Regulariser of every Res-Inc convolution kernel.
    input_mean, input_scale : array-like of shape (2, feature_dim), optional
        Per-feature standardisation of the appearance (row 0) and motion
        (row 1) inputs, ``(x - mean) / scale``, as the first layers
        (``"appearance_standardize"`` / ``"motion_standardize"``), so the
        model takes raw features. Both or neither. Not in the paper (whose
        inputs are features of fine-tuned networks); :class:`actionzoo.STFN`
        passes the training features' statistics (``standardize=True``).
    name : str, default="stfn"
        Model name.

    Returns
    -------
    keras.Model
        Inputs ``[appearance, motion]``; output ``(batch, num_classes)``
        logits. The temporally averaged sequences are the layers
        ``"appearance_pool"`` / ``"motion_pool"`` (``"fused_pool"`` for
        ``"c"``), the per-stream scores ``"appearance_logits"`` /
        ``"motion_logits"`` (``"fused_logits"``); :func:`stfn_embedding_model`
        gives the ``2 * filters``-wide video embedding.

    Examples
    --------
    >>> model = stfn(n_segments=5, feature_dim=8, num_classes=3)
    >>> [tuple(t.shape) for t in model.inputs], tuple(model.output.shape)
    ([(None, 5, 8), (None, 5, 8)], (None, 3))
    >>> tuple(stfn_embedding_model(model).output.shape)
    (None, 16)
    """
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {sorted(FUSIONS)}, got {fusion!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    if architecture == "c" and (fusion, direction) != ("avg", "bidirectional"):
        raise ValueError("architecture='c' fuses by concatenation before the blocks; "
                         "fusion and direction do not apply (leave them at "
                         f"'avg'/'bidirectional'), got fusion={fusion!r}, "
                         f"direction={direction!r}")
    if int(n_blocks) != n_blocks or n_blocks < 1:
        raise ValueError(f"n_blocks must be an int >= 1, got {n_blocks!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    filters = int(feature_dim if filters is None else filters)
    block_kwargs = {"kernel_sizes": tuple(kernel_sizes),
                    "kernel_regularizer": kernel_regularizer}

    if (input_mean is None) != (input_scale is None):
        raise ValueError("give both input_mean and input_scale, or neither")

    appearance = keras.Input((n_segments, feature_dim), name="appearance")
    motion = keras.Input((n_segments, feature_dim), name="motion")
    x_app, x_mot = appearance, motion
    if input_mean is not None:
        mean = np.asarray(input_mean, dtype="float64")
        scale = np.asarray(input_scale, dtype="float64")
        if mean.shape != (2, feature_dim) or scale.shape != (2, feature_dim):
            raise ValueError(f"input_mean and input_scale must have shape (2, {feature_dim}), "
                             f"got {mean.shape} and {scale.shape}")
        if not np.all(scale > 0):
            raise ValueError("input_scale must be positive")
        x_app, x_mot = (keras.layers.Normalization(axis=-1, mean=mean[i], variance=scale[i] ** 2,
                                                   name=f"{stream}_standardize")(x)
                        for i, (stream, x) in enumerate((("appearance", appearance),
                                                         ("motion", motion))))

    if architecture == "c":
        x = keras.layers.Concatenate(axis=-1, name="feature_concat")([x_app, x_mot])
        x = _blocks(x, n_blocks, 2 * filters, "fused", block_kwargs)
        pooled = keras.layers.GlobalAveragePooling1D(name="fused_pool")(x)
        logits = _head(pooled, num_classes, dropout, "fused")
        return keras.Model([appearance, motion], logits, name=name)

    p_a = _blocks(x_app, n_blocks, filters, "appearance", block_kwargs)
    p_m = _blocks(x_mot, n_blocks, filters, "motion", block_kwargs)
    fused = FUSIONS[fusion](name=f"fusion_{fusion}")([p_a, p_m])
    x_a = fused if direction in ("bidirectional", "m_to_a") else p_a
    x_m = fused if direction in ("bidirectional", "a_to_m") else p_m
    if architecture == "a":
        x_a = _blocks(x_a, n_blocks, filters, "fused_appearance", block_kwargs)
        x_m = _blocks(x_m, n_blocks, filters, "fused_motion", block_kwargs)
    pooled_a = keras.layers.GlobalAveragePooling1D(name="appearance_pool")(x_a)
    pooled_m = keras.layers.GlobalAveragePooling1D(name="motion_pool")(x_m)
    logits_a = _head(pooled_a, num_classes, dropout, "appearance")
    logits_m = _head(pooled_m, num_classes, dropout, "motion")
    logits = ScoreFusion(score_fusion, name="score_fusion")([logits_a, logits_m])
    return keras.Model([appearance, motion], logits, name=name)


def stfn_embedding_model(model):
    """Model mapping ``[appearance, motion]`` to the STFN video embedding.

    The embedding is the temporally averaged output of the last blocks, the
    input of the softmax heads: the two streams' pooled sequences
    concatenated (architectures ``"a"``/``"b"``) or the pooled fused sequence
    (``"c"``), ``2 * filters`` wide in all cases. Its output layer is named
    ``"embedding"``; weights are shared with ``model``.

    Parameters
    ----------
    model : keras.Model
        A model built by :func:`stfn`.

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> model = stfn(n_segments=3, feature_dim=4, num_classes=2, architecture="c")
    >>> tuple(stfn_embedding_model(model).output.shape)
    (None, 8)
    """
    names = {layer.name for layer in model.layers}
    if "fused_pool" in names:
        pooled = [model.get_layer("fused_pool").output]
    elif {"appearance_pool", "motion_pool"} <= names:
        pooled = [model.get_layer("appearance_pool").output,
                  model.get_layer("motion_pool").output]
    else:
        raise ValueError(f"model {model.name!r} was not built by stfn(): "
                         "it has no appearance_pool/motion_pool or fused_pool layer")
    if len(pooled) == 1:
        embedding = keras.layers.Identity(name="embedding")(pooled[0])
    else:
        embedding = keras.layers.Concatenate(name="embedding")(pooled)
    return keras.Model(model.inputs, embedding, name=f"{model.name}_embedding")
