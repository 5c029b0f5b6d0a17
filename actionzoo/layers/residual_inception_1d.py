"""Residual Inception block over time (Cho & Foroosh, Sec. 3.2, Fig. 3, Eq. 3)."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="actionzoo")
class ResidualInception1D(keras.layers.Layer):
    """Residual Inception (Res-Inc) block of 1-D temporal convolutions.

    For an input sequence ``x`` of shape ``(B, N, D)`` the block computes

    - one branch per kernel size ``k`` in ``kernel_sizes`` (paper: 2, 3, 4,
      5): ``relu(BN(Conv1D(filters / len(kernel_sizes), k, padding="same")(x)))``;
    - the branches concatenated along channels (``filters`` channels);
    - a skip connection ``BN(Conv1D(filters, skip_kernel_size,
      padding="same")(x))`` (paper: kernel 2, no ReLU);
    - ``relu(concat + skip)``.

    The output has shape ``(B, N, filters)``: the temporal length is kept
    (Keras ``"same"`` padding; for an even kernel ``k`` the extra zero goes
    at the end: ``(k - 1) // 2`` steps before, ``k // 2`` after). In the
    paper ``filters`` equals the input dimension ``D`` so blocks chain.

    Parameters
    ----------
    filters : int
        Output channels ``d``; must be divisible by ``len(kernel_sizes)``.
    kernel_sizes : tuple of int, default=(2, 3, 4, 5)
        Temporal kernel sizes of the Inception branches.
    skip_kernel_size : int, default=2
        Temporal kernel size of the skip convolution.
    use_bias : bool, default=False
        Whether the convolutions have a bias. Every convolution is followed
        by batch normalisation, which cancels a bias (its gradient is zero
        in training), hence the default.
    kernel_initializer : str or keras.initializers.Initializer, default="glorot_uniform"
        Initialiser of all convolution kernels.
    kernel_regularizer : str or keras.regularizers.Regularizer, optional
        Regulariser of all convolution kernels.
    bn_momentum : float, default=0.99
        Momentum of the batch-normalisation moving statistics.
    bn_epsilon : float, default=1e-3
        Variance epsilon of batch normalisation.

    Examples
    --------
    >>> import numpy as np
    >>> block = ResidualInception1D(filters=8)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    >>> tuple(block(x).shape)
    (2, 5, 8)
    >>> bool(np.all(np.asarray(block(x)) >= 0))
    True
    """

    def __init__(self, filters, kernel_sizes=(2, 3, 4, 5), skip_kernel_size=2,
                 use_bias=False, kernel_initializer="glorot_uniform",
                 kernel_regularizer=None, bn_momentum=0.99, bn_epsilon=1e-3,
                 **kwargs):
        super().__init__(**kwargs)
        kernel_sizes = tuple(int(k) for k in kernel_sizes)
        if not kernel_sizes or any(k < 1 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be positive ints, got {kernel_sizes!r}")
        if int(filters) != filters or filters < 1 or filters % len(kernel_sizes):
            raise ValueError(
                f"filters must be a positive multiple of len(kernel_sizes)="
                f"{len(kernel_sizes)} (each branch gets filters/{len(kernel_sizes)} "
                f"channels), got filters={filters!r}")
        if int(skip_kernel_size) < 1:
            raise ValueError(f"skip_kernel_size must be >= 1, got {skip_kernel_size!r}")
        self.filters = int(filters)
        self.kernel_sizes = kernel_sizes
        self.skip_kernel_size = int(skip_kernel_size)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon

        branch_filters = self.filters // len(kernel_sizes)
        self.branch_convs = [self._conv(branch_filters, k, f"branch{k}_conv")
                             for k in kernel_sizes]
        self.branch_bns = [self._bn(f"branch{k}_bn") for k in kernel_sizes]
        self.skip_conv = self._conv(self.filters, self.skip_kernel_size, "skip_conv")
        self.skip_bn = self._bn("skip_bn")

    def _conv(self, filters, kernel_size, name):
        return keras.layers.Conv1D(
            filters, kernel_size, padding="same", use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer, name=name,
            dtype=self.dtype_policy)

    def _bn(self, name):
        return keras.layers.BatchNormalization(
            momentum=self.bn_momentum, epsilon=self.bn_epsilon, name=name,
            dtype=self.dtype_policy)

    def build(self, input_shape):
        for conv, bn in zip(self.branch_convs, self.branch_bns, strict=True):
            conv.build(input_shape)
            bn.build(conv.compute_output_shape(input_shape))
        self.skip_conv.build(input_shape)
        self.skip_bn.build(self.skip_conv.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        branches = [ops.relu(bn(conv(inputs), training=training))
                    for conv, bn in zip(self.branch_convs, self.branch_bns, strict=True)]
        skip = self.skip_bn(self.skip_conv(inputs), training=training)
        return ops.relu(ops.concatenate(branches, axis=-1) + skip)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_sizes": self.kernel_sizes,
            "skip_kernel_size": self.skip_kernel_size,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bn_momentum": self.bn_momentum,
            "bn_epsilon": self.bn_epsilon,
        })
        return config
