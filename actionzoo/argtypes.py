"""Value types for ``argparse`` options of the command line and the recipes.

Each type turns the option's text into a number or raises
:class:`argparse.ArgumentTypeError`, so a bad value stops parsing with exit
code 2, the command's usage line and a message naming the option
(``argument --limit: must be a positive integer, got '-1'``).

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser(prog="count")
>>> _ = parser.add_argument("--limit", type=positive_int)
>>> parser.parse_args(["--limit", "3"]).limit
3
"""
from __future__ import annotations

import argparse
import math

__all__ = ["non_negative_int", "positive_float", "positive_int", "workers"]


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects an integer, got {text!r}") from None


def positive_int(text):
    """An integer >= 1 (a count: clips, videos, epochs, batch size...)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text):
    """An integer >= 0 (a seed, or a size where 0 means "keep the native one")."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def workers(text):
    """A number of worker processes: >= 1, 0 for threads in this process, -1 for one per core."""
    value = _integer(text)
    if value < -1:
        raise argparse.ArgumentTypeError(f"must be -1, 0 or a positive integer, got {text!r}")
    return value


def positive_float(text):
    """A finite number > 0 (a width multiplier, a learning rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value
