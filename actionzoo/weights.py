"""Registry of pretrained weights: list, download, verify, load.

Weights are named ``arch.tag`` (``corrnet26.demo``), as in timm. Every entry
of the registry (the JSON manifest ``weights/manifest.json`` shipped with the
project) records

- ``file``: the file name (``<name>.weights.h5``), ``urls``: where to fetch
  it, ``sha256`` (full hex digest) and ``size`` in bytes;
- ``architecture``: the :mod:`actionzoo.models` builder and its keyword
  arguments (``{"builder": "correlation_net", "kwargs": {...}}``);
- ``preprocessing``: clip length, frame stride, crop size, decode short
  side, views and mean/std (see :class:`Preprocessing`);
- ``classes`` (the class names, in logit order), ``license``, ``recipe``
  (the script that produced the weights), ``description`` and ``metrics``.

The clip estimators fine-tune from an entry by name
(``CorrelationNet(**CorrelationNet.pretrained_params("corrnet26.demo"),
weights="corrnet26.demo")``; see ``docs/weights.md``).

Where a file is looked up, in order:

1. ``weights/<file>`` next to the manifest (weights the project ships; no
   network needed);
2. the cache ``$ACTIONZOO_HOME/weights/<file>`` (default
   ``~/.keras/actionzoo``, or ``$KERAS_HOME/actionzoo``);
3. a download from ``$ACTIONZOO_WEIGHTS_URL/<file>`` when that mirror base
   URL is set, otherwise from the entry's ``urls`` in turn.

Every download is streamed into a temporary file in the cache directory,
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

import fnmatch
import hashlib
import http.client
import json
import os
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actionzoo._shipped import shipped_dir

__all__ = [
    "ChecksumError", "DownloadError", "OfflineError", "PretrainedInfo", "Preprocessing",
    "Registry", "UnknownWeightsError", "WeightsError", "cache_dir", "default_registry",
    "download", "list_pretrained", "load_pretrained", "pretrained_info", "sha256sum",
    "verify",
]

MANIFEST_NAME = "manifest.json"


def _shipped_dir():
    """``weights/`` of a source checkout (editable install), else the installed data files."""
    return shipped_dir("weights", MANIFEST_NAME)


#: Directory of the weights this project ships (and of ``manifest.json``).
SHIPPED_DIR = _shipped_dir()
_CHUNK = 1 << 16
_TIMEOUT = 30.0
_TRUE = ("1", "true", "yes", "on")


class WeightsError(RuntimeError):
    """Base class of registry, download and checksum errors."""


class UnknownWeightsError(WeightsError, LookupError):
    """No registry entry of that name (the message lists the known ones)."""


class ChecksumError(WeightsError):
    """A file's sha256 or size differs from its registry entry."""


class DownloadError(WeightsError):
    """A transfer failed: HTTP error, network error or interrupted transfer."""


class OfflineError(WeightsError):
    """``ACTIONZOO_OFFLINE`` is set and the file is not available locally."""


# -- environment ---------------------------------------------------------------
def cache_dir():
    """Directory of downloaded weights: ``$ACTIONZOO_HOME/weights``.

    ``ACTIONZOO_HOME`` defaults to ``actionzoo`` in the Keras cache directory
    (``$KERAS_HOME`` or ``~/.keras``).

    Examples
    --------
    >>> import os
    >>> os.environ["ACTIONZOO_HOME"] = "/tmp/az-home"
    >>> str(cache_dir())
    '/tmp/az-home/weights'
    >>> del os.environ["ACTIONZOO_HOME"]
    """
    home = os.environ.get("ACTIONZOO_HOME")
    if not home:
        keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
        home = os.path.join(keras_home, "actionzoo")
    return Path(home).expanduser() / "weights"


def _offline():
    return os.environ.get("ACTIONZOO_OFFLINE", "").strip().lower() in _TRUE


def sha256sum(path):
    """Full sha256 hex digest of a file.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as fh:
    ...     _ = fh.write(b"abc")
    >>> sha256sum(fh.name)[:16]
    'ba7816bf8f01cfea'
    >>> os.remove(fh.name)
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- entries ---------------------------------------------------------------------
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

    def normalize(self, clips):
        """``uint8`` clips ``(..., T, H, W, C)`` -> standardised ``float32``."""
        x = np.asarray(clips, np.float32) / 255.0
        if self.temporal_center:
            x = x - x.mean(axis=-4, keepdims=True)
        return (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)

    def loader(self, num_clips=None, crops=None):
        """A :class:`~actionzoo.data.ClipLoader` producing the test views."""
        from actionzoo.data import ClipLoader, UniformClipSampler, eval_transform

        sampler = UniformClipSampler(self.clip_length, stride=self.stride,
                                     num_clips=num_clips or self.num_clips)
        transform = eval_transform(self.input_size, self.short_side, crops=crops or self.crops)
        return ClipLoader(sampler, transform, modalities=(self.modality,))


@dataclass(frozen=True)
class PretrainedInfo:
    """One registry entry (see the module docstring for the fields)."""

    name: str
    file: str
    sha256: str
    size: int
    architecture: dict
    preprocessing: Preprocessing
    classes: tuple
    urls: tuple = ()
    license: str = ""
    recipe: str = ""
    description: str = ""
    metrics: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, name, entry, source="manifest"):
        """Validate a manifest entry; errors name the entry and the field."""
        where = f"{source}: entry {name!r}"
        missing = [k for k in ("file", "sha256", "size", "architecture", "preprocessing", "classes")
                   if k not in entry]
        if missing:
            raise WeightsError(f"{where} lacks {', '.join(missing)}")
        sha = str(entry["sha256"]).lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise WeightsError(f"{where}: sha256 must be a full 64-digit hex digest, got {sha!r}")
        arch = dict(entry["architecture"])
        if "builder" not in arch:
            raise WeightsError(f"{where}: architecture needs a 'builder'")
        arch.setdefault("kwargs", {})
        try:
            prep = Preprocessing(**{k: tuple(v) if isinstance(v, list) else v
                                    for k, v in entry["preprocessing"].items()})
        except TypeError as exc:
            raise WeightsError(f"{where}: bad preprocessing: {exc}") from None
        return cls(name=name, file=str(entry["file"]), sha256=sha, size=int(entry["size"]),
                   architecture=arch, preprocessing=prep, classes=tuple(entry["classes"]),
                   urls=tuple(entry.get("urls", ())), license=entry.get("license", ""),
                   recipe=entry.get("recipe", ""), description=entry.get("description", ""),
                   metrics=dict(entry.get("metrics", {})))

    def build_model(self):
        """The Keras model of :attr:`architecture`, randomly initialised."""
        from actionzoo import models

        builder = self.architecture["builder"]
        if builder not in models.__all__:
            raise WeightsError(f"{self.name}: unknown builder {builder!r}; "
                               f"expected one of actionzoo.models.{models.__all__}")
        return getattr(models, builder)(**self.architecture["kwargs"])


class Registry:
    """Named weights read from a JSON manifest.

    Parameters
    ----------
    manifest : str or path-like
        ``{"weights": {name: entry, ...}}``. Files named by the entries are
        looked up in the manifest's directory first (shipped weights).

    Examples
    --------
    >>> reg = Registry(SHIPPED_DIR / "manifest.json")
    >>> reg.names("*.demo")
    ['corrnet26.demo', 'stc_resnet18.demo']
    """

    def __init__(self, manifest):
        self.manifest = Path(manifest)
        self.local_dir = self.manifest.parent
        try:
            with open(self.manifest, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise WeightsError(f"weights manifest not found: {self.manifest}") from None
        except json.JSONDecodeError as exc:
            raise WeightsError(f"{self.manifest}: not valid JSON: {exc}") from None
        self.entries = {name: PretrainedInfo.from_dict(name, entry, str(self.manifest))
                        for name, entry in data.get("weights", {}).items()}

    def names(self, pattern=None):
        """Sorted entry names, optionally filtered by a shell-style ``pattern``."""
        names = sorted(self.entries)
        return names if pattern is None else [n for n in names if fnmatch.fnmatch(n, pattern)]

    def __getitem__(self, name):
        if isinstance(name, PretrainedInfo):
            return name
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UnknownWeightsError(
                f"no pretrained weights named {name!r} in {self.manifest} (known: {known})") from None

    def local_path(self, name):
        """Existing local file (shipped or cached) of ``name``, or ``None``."""
        info = self[name]
        for path in (self.local_dir / info.file, cache_dir() / info.file):
            if path.is_file():
                return path
        return None

    def urls(self, name):
        """Download URLs: the mirror (``ACTIONZOO_WEIGHTS_URL``) or the entry's."""
        info = self[name]
        mirror = os.environ.get("ACTIONZOO_WEIGHTS_URL", "").strip()
        if mirror:
            return [mirror.rstrip("/") + "/" + urllib.parse.quote(info.file)]
        return list(info.urls)


_DEFAULT = {}


def default_registry():
    """The registry of ``$ACTIONZOO_MANIFEST`` or the shipped manifest (cached per path)."""
    path = Path(os.environ.get("ACTIONZOO_MANIFEST") or SHIPPED_DIR / MANIFEST_NAME)
    key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else None)
    if key not in _DEFAULT:
        _DEFAULT.clear()
        _DEFAULT[key] = Registry(path)
    return _DEFAULT[key]


# -- public API ------------------------------------------------------------------
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


def _check_file(path, info):
    """Raise :class:`ChecksumError` unless ``path`` has ``info``'s size and sha256."""
    size = os.path.getsize(path)
    if size != info.size:
        raise ChecksumError(f"{path}: size {size} bytes, expected {info.size} "
                            f"for weights {info.name!r} (truncated or wrong file)")
    digest = sha256sum(path)
    if digest != info.sha256:
        raise ChecksumError(f"{path}: sha256 {digest} does not match {info.sha256} "
                            f"expected for weights {info.name!r}")


def _fetch(url, dest_dir, info, verbose, timeout):
    """Stream ``url`` into a temp file in ``dest_dir``; verify; return the temp path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{info.file}.", suffix=".part", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "actionzoo"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                announced = response.headers.get("Content-Length")
                announced = int(announced) if announced and announced.isdigit() else None
                if announced is not None and announced != info.size:
                    raise ChecksumError(f"{url} announces {announced} bytes, expected {info.size} "
                                        f"for weights {info.name!r}; nothing was cached")
                total = info.size
                digest, received = hashlib.sha256(), 0
                from tqdm.auto import tqdm

                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                          desc=info.file, disable=not verbose, leave=False) as bar:
                    while True:
                        try:
                            chunk, cut = response.read(_CHUNK), False
                        except http.client.IncompleteRead as exc:  # peer closed early
                            chunk, cut = exc.partial, True
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                        if cut or not chunk or received > info.size:
                            break
        if announced is not None and received < announced:
            raise DownloadError(f"interrupted transfer from {url}: received {received} of "
                                f"{announced} bytes (Content-Length); nothing was cached, retry")
        if received != info.size:
            raise ChecksumError(f"{url}: received {received} bytes, expected {info.size} "
                                f"for weights {info.name!r}; nothing was cached")
        if digest.hexdigest() != info.sha256:
            raise ChecksumError(f"{url}: sha256 {digest.hexdigest()} does not match "
                                f"{info.sha256} expected for weights {info.name!r}; "
                                "nothing was cached")
        return tmp
    except urllib.error.HTTPError as exc:
        _remove(tmp)
        raise DownloadError(f"HTTP {exc.code} {exc.reason} for {url}") from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError,
            http.client.HTTPException) as exc:
        _remove(tmp)
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"download of {url} failed: {reason}") from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def download(name, *, force=False, verbose=1, timeout=_TIMEOUT, registry=None):
    """Local path of the weights ``name``, downloading them if needed.

    Shipped files and cache hits are verified (size and sha256) and returned
    without network access. A cached file that fails verification is
    downloaded again. Downloads go to a temporary file in the cache
    directory and are moved into place only after the transfer is complete
    and the sha256 matches.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"corrnet26.demo"``.
    force : bool, default False
        Download even if a valid cached copy exists (shipped files are
        still used as they are).
    verbose : int, default 1
        Progress bar (tqdm) while downloading when > 0.
    timeout : float, default 30
        Socket timeout in seconds.
    registry : Registry, optional

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OfflineError
        ``ACTIONZOO_OFFLINE=1`` and the file is not available locally; the
        message names the URL and the path to place the file at.
    DownloadError
        HTTP error (e.g. 404, naming the URL), network error, or an
        interrupted transfer (fewer bytes than ``Content-Length``).
    ChecksumError
        The downloaded or shipped bytes do not match the manifest.

    Examples
    --------
    >>> path = download("corrnet26.demo", verbose=0)  # shipped: no network
    >>> path.name
    'corrnet26.demo.weights.h5'
    """
    reg = registry or default_registry()
    info = reg[name]
    shipped = reg.local_dir / info.file
    if shipped.is_file():
        _check_file(shipped, info)
        return shipped
    target_dir = cache_dir()
    target = target_dir / info.file
    if target.is_file() and not force:
        try:
            _check_file(target, info)
            return target
        except ChecksumError as exc:
            if _offline():
                raise
            if verbose:
                print(f"actionzoo: {exc}; downloading again")
    urls = reg.urls(name)
    if _offline():
        where = urls[0] if urls else "its source (the entry has no URL)"
        raise OfflineError(
            f"ACTIONZOO_OFFLINE is set and weights {info.name!r} are not available locally: "
            f"download {where} and place it at {target} (sha256 {info.sha256}, "
            f"{info.size} bytes), or unset ACTIONZOO_OFFLINE")
    if not urls:
        raise DownloadError(
            f"weights {info.name!r} have no download URL; set ACTIONZOO_WEIGHTS_URL to a mirror "
            f"holding {info.file} or place the file at {target}")
    target_dir.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        try:
            tmp = _fetch(url, target_dir, info, verbose, timeout)
        except WeightsError as exc:
            errors.append(exc)
            continue
        os.replace(tmp, target)
        return target
    if len(errors) == 1:
        raise errors[0]
    raise DownloadError("all downloads failed: " + "; ".join(str(e) for e in errors))


def verify(path_or_name, *, registry=None):
    """Check a file against the registry; return its :class:`PretrainedInfo`.

    Parameters
    ----------
    path_or_name : str or path-like
        A registry name (its shipped or cached file is checked) or the path
        of a weights file (matched to the entry with that file name).

    Raises
    ------
    ChecksumError
        Size or sha256 mismatch (the message names the file and both digests).
    FileNotFoundError
        A named entry with no local file yet, or a missing path.
    UnknownWeightsError
        No entry of that name or file name.

    Examples
    --------
    >>> verify("corrnet26.demo").name
    'corrnet26.demo'
    """
    reg = registry or default_registry()
    key = os.fspath(path_or_name)
    if key in reg.entries:
        info = reg[key]
        path = reg.local_path(key)
        if path is None:
            raise FileNotFoundError(f"weights {key!r} are not downloaded yet "
                                    f"(expected {cache_dir() / info.file}); run "
                                    f"`actionzoo weights download {key}`")
    else:
        path = Path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{key}: no such file and no registry entry of that name")
        matches = [i for i in reg.entries.values() if i.file == path.name]
        if not matches:
            raise UnknownWeightsError(f"{path}: no registry entry has file name {path.name!r}")
        info = matches[0]
    _check_file(path, info)
    return info


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
