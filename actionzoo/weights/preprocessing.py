"""How clips are prepared for a network: sampling, views and pixel normalisation.

One :class:`Preprocessing` describes the input of a registry entry; the clip
estimators build theirs from their hyper-parameters, so prediction through
an estimator, through :func:`actionzoo.weights.load_pretrained` and through
the CLI prepares clips the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Preprocessing:
    """How clips are prepared for a pretrained model.

    Frames are decoded with their short side at ``short_side``, centre
    cropped to ``input_size``, ``num_clips`` clips of ``clip_length`` frames
    ``stride`` apart are spread uniformly over the video, and pixel values
    are scaled to ``[0, 1]``; with ``temporal_center`` each pixel's mean
    over the clip is subtracted (a static background vanishes, what moves
    remains, like TSN's RGB-difference input); then values are standardised
    with ``mean``/``std``.

    Examples
    --------
    >>> p = Preprocessing(clip_length=8, stride=2, input_size=48, short_side=56)
    >>> p.normalize(np.full((1, 8, 48, 48, 3), 255, np.uint8)).max()
    1.0
    >>> p.loader().output_spec()
    {'rgb': ((4, 8, 48, 48, 3), 'uint8')}
    """

    clip_length: int
    stride: int = 1
    input_size: int = 112
    short_side: int = 128
    num_clips: int = 4
    crops: int = 1
    mean: tuple = (0.0, 0.0, 0.0)
    std: tuple = (1.0, 1.0, 1.0)
    modality: str = "rgb"
    temporal_center: bool = False

    @property
    def num_views(self):
        """Views per video at test time: clips times crops."""
        return self.num_clips * self.crops

    def normalize(self, clips):
        """``uint8`` clips ``(..., T, H, W, C)`` -> standardised ``float32``.

        NumPy arrays stay NumPy arrays; TensorFlow tensors stay tensors (the
        same arithmetic inside a ``tf.data`` map).
        """
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        if isinstance(clips, np.ndarray):
            x = clips.astype(np.float32) / 255.0
            if self.temporal_center:
                x = x - x.mean(axis=-4, keepdims=True)
            return (x - mean) / std
        import tensorflow as tf

        x = tf.cast(clips, tf.float32) / 255.0
        if self.temporal_center:
            x = x - tf.reduce_mean(x, -4, keepdims=True)
        return (x - mean) / std

    def loader(self, num_clips=None, crops=None):
        """A :class:`~actionzoo.data.ClipLoader` producing the test views."""
        from actionzoo.data import ClipLoader, UniformClipSampler, eval_transform

        sampler = UniformClipSampler(self.clip_length, stride=self.stride,
                                     num_clips=num_clips or self.num_clips)
        transform = eval_transform(self.input_size, self.short_side, crops=crops or self.crops)
        return ClipLoader(sampler, transform, modalities=(self.modality,),
                          frame_size=(self.input_size, self.input_size))
