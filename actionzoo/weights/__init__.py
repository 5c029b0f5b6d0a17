"""Registry of pretrained weights: list, download, verify, load.

Weights are named ``arch.tag`` (``corrnet26.demo``), as in timm. Every entry
of the registry (the JSON manifest ``weights/manifest.json`` shipped with the
project) records

- ``file``: the file name (``<name>.weights.h5``) and either ``urls``,
  ``sha256`` (full hex digest) and ``size`` in bytes (Keras weights made by
  this project), or a ``source``: a published PyTorch checkpoint
  (``file``, ``urls`` tried in order, the ``sha256`` or the sha256 prefix
  its publisher puts in the file name, the ``converter`` architecture of
  :mod:`actionzoo.convert`, optionally the installed ``package`` that ships
  it or ``instructions`` where to get it) converted on first use;
- ``architecture``: the :mod:`actionzoo.models` builder and its keyword
  arguments (``{"builder": "correlation_net", "kwargs": {...}}``);
- ``preprocessing``: clip length, frame stride, crop size, decode short
  side, test views and mean/std, one :class:`Preprocessing` that the
  estimators, the CLI and :func:`load_pretrained` all use;
- ``classes`` (the class names in logit order, or the name of a list
  shipped in ``actionzoo/weights/classes/``, e.g. ``"kinetics400"``),
  ``license``, ``recipe`` (the script that produced the weights),
  ``description`` and ``metrics``.

The estimators start from an entry with ``from_pretrained``
(``CorrelationNet.from_pretrained("corrnet26.demo")`` is fitted at once;
``fit`` fine-tunes; see ``docs/weights.md``).

Where a file is looked up, in order:

1. ``weights/<file>`` next to the manifest (weights the project ships; no
   network needed);
2. the cache ``$ACTIONZOO_HOME/weights/<file>`` (``ACTIONZOO_HOME``
   defaults to ``~/.cache/actionzoo``);
3. a download from ``$ACTIONZOO_WEIGHTS_URL/<file>`` when that mirror base
   URL is set, otherwise from the entry's ``urls`` in turn.

A converted entry looks for its source checkpoint in the installed package
that ships it, then in ``$ACTIONZOO_HOME/sources/``, then downloads it the
same way; the converted ``.weights.h5`` is cached in
``$ACTIONZOO_HOME/weights/`` with its full sha256 recorded in
``<file>.json`` and reused without converting again.

Every download is streamed into a temporary file in the target directory,
checked against the announced ``Content-Length`` and the manifest's size and
sha256, and only then moved into place with :func:`os.replace`, so a partial
or corrupt file never lands in the cache. Files are verified again on every
load. With ``ACTIONZOO_OFFLINE=1`` nothing is downloaded and a missing file
is an :class:`OfflineError` that says which file to place where.
``ACTIONZOO_MANIFEST`` replaces the shipped manifest by another file (a
private registry).

Examples
--------
>>> from actionzoo import weights
>>> weights.list_pretrained("corrnet*")
['corrnet26.demo']
>>> info = weights.pretrained_info("corrnet26.demo")
>>> info.preprocessing.clip_length, len(info.classes)
(8, 10)
>>> model = weights.load_pretrained("corrnet26.demo")  # doctest: +SKIP
"""
from __future__ import annotations

from actionzoo.weights._download import convert_source, download, source_path, verify
from actionzoo.weights._registry import (
    MANIFEST_NAME,
    SHIPPED_DIR,
    ChecksumError,
    DownloadError,
    OfflineError,
    PretrainedInfo,
    Registry,
    Source,
    UnknownWeightsError,
    WeightsError,
    cache_dir,
    default_registry,
    sha256sum,
    source_dir,
)
from actionzoo.weights.preprocessing import Preprocessing

__all__ = [
    "ChecksumError", "DownloadError", "MANIFEST_NAME", "OfflineError", "PretrainedInfo",
    "Preprocessing", "Registry", "SHIPPED_DIR", "Source", "UnknownWeightsError", "WeightsError",
    "cache_dir", "convert_checkpoint", "convert_source", "default_registry", "download",
    "list_pretrained", "load_pretrained", "pretrained_info", "sha256sum", "source_dir",
    "source_path", "verify",
]


def list_pretrained(pattern=None, *, registry=None):
    """Names of the registered weights.

    Parameters
    ----------
    pattern : str, optional
        Shell-style filter, e.g. ``"corrnet*"``.
    registry : Registry, optional
        Default: :func:`default_registry`.

    Returns
    -------
    list of str

    Examples
    --------
    >>> "corrnet26.demo" in list_pretrained()
    True
    >>> list_pretrained("nothing*")
    []
    """
    return (registry or default_registry()).names(pattern)


def pretrained_info(name, *, registry=None):
    """The :class:`PretrainedInfo` of ``name``.

    Raises
    ------
    UnknownWeightsError
        No such entry (the message lists the known names).

    Examples
    --------
    >>> info = pretrained_info("corrnet26.demo")
    >>> info.architecture["builder"], info.classes[0]
    ('correlation_net', 'MoveLeft')
    """
    return (registry or default_registry())[name]


def load_pretrained(name, *, verbose=0, registry=None):
    """Build the model of ``name`` and load its verified weights.

    Parameters
    ----------
    name : str
    verbose : int, default 0
        Download progress bar when > 0.
    registry : Registry, optional

    Returns
    -------
    keras.Model
        Built from the entry's architecture; logits over
        ``pretrained_info(name).classes``. Feed it clips prepared with
        ``pretrained_info(name).preprocessing`` (``loader()`` then
        ``normalize()``).

    Examples
    --------
    >>> model = load_pretrained("corrnet26.demo")
    >>> model.output.shape[-1] == len(pretrained_info("corrnet26.demo").classes)
    True
    """
    reg = registry or default_registry()
    info = reg[name]
    path = download(name, verbose=verbose, registry=reg)
    model = info.build_model()
    try:
        model.load_weights(path)
    except (ValueError, OSError) as exc:
        raise WeightsError(f"{path}: cannot load into {info.architecture}: {exc}") from None
    return model


def __getattr__(name):
    """``convert_checkpoint`` (:func:`actionzoo.convert.convert_checkpoint`), imported on
    first use: it builds Keras models, and the registry stays importable without them."""
    if name == "convert_checkpoint":
        from actionzoo.convert import convert_checkpoint

        return convert_checkpoint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
