"""Shared steps of the conversion tests: random BN statistics, torch forward, comparison."""
import numpy as np
import torch


def randomise_batchnorm(module, seed=0):
    """Non-trivial BN affine parameters and running statistics (a fresh BN is the identity)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=generator))
                m.bias.copy_(0.2 * torch.randn(n, generator=generator))
                m.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                m.num_batches_tracked.fill_(7)
    return module.eval()


def torch_logits(module, channels_last_input):
    """The module's output for a channels-last NumPy input (moved to channels-first)."""
    x = torch.from_numpy(np.moveaxis(channels_last_input, -1, 1).copy())
    with torch.no_grad():
        return module(x).numpy()


def max_relative_error(actual, expected):
    """max |actual - expected| / max |expected|."""
    return float(np.abs(actual - expected).max() / np.abs(expected).max())
