"""Data layer: decoding, sampling, transforms and tf.data pipelines."""
