"""Registry entries read from the JSON manifest, the cache directory and the errors."""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import urllib.parse
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from actionzoo._home import home_dir
from actionzoo._shipped import shipped_dir
from actionzoo.weights.preprocessing import Preprocessing

MANIFEST_NAME = "manifest.json"
#: Directory of the weights this project ships (and of ``manifest.json``).
SHIPPED_DIR = shipped_dir("weights", MANIFEST_NAME)
_CHUNK = 1 << 16
_HEX = set("0123456789abcdef")


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


def cache_dir():
    """Directory of downloaded and converted weights: ``$ACTIONZOO_HOME/weights``.

    Examples
    --------
    >>> import os
    >>> os.environ["ACTIONZOO_HOME"] = "/tmp/az-home"
    >>> str(cache_dir())
    '/tmp/az-home/weights'
    >>> del os.environ["ACTIONZOO_HOME"]
    """
    return home_dir() / "weights"


def source_dir():
    """Directory of downloaded source checkpoints: ``$ACTIONZOO_HOME/sources``."""
    return home_dir() / "sources"


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


def class_names(spec, where):
    """Class names of an entry.

    A list; the name of a list shipped in ``actionzoo/weights/classes/``
    (``"kinetics400"``); or ``"index:N"`` for ``N`` outputs whose names the
    publisher does not give (named ``"0"`` ... ``"N-1"``).
    """
    if not isinstance(spec, str):
        return tuple(str(c) for c in spec)
    if spec.startswith("index:") and spec[6:].isdigit():
        return tuple(str(i) for i in range(int(spec[6:])))
    path = resources.files("actionzoo.weights") / "classes" / f"{spec}.txt"
    if not path.is_file():
        raise WeightsError(f"{where}: no class list {spec!r} (expected "
                           f"actionzoo/weights/classes/{spec}.txt)")
    return tuple(line for line in path.read_text(encoding="utf-8").splitlines() if line)


def _hex(value, where, what, full):
    value = str(value).lower()
    if not value or any(c not in _HEX for c in value) or (full and len(value) != 64):
        kind = "a full 64-digit hex digest" if full else "a hex digest or prefix"
        raise WeightsError(f"{where}: {what} must be {kind}, got {value!r}")
    return value


@dataclass(frozen=True)
class Source:
    """The published checkpoint a converted entry is made from.

    ``sha256`` is the full digest or the prefix the publisher puts in the
    file name (torchvision's ``r3d_18-b3b3357e.pth``); ``package`` names an
    installed Python package that ships the file (no download needed);
    ``instructions`` tell where to get a file without a stable URL;
    ``kwargs`` go to :func:`actionzoo.convert.convert_checkpoint`.
    """

    file: str
    converter: str
    sha256: str = ""
    urls: tuple = ()
    package: str = ""
    instructions: str = ""
    kwargs: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, entry, where):
        missing = [k for k in ("file", "converter") if k not in entry]
        if missing:
            raise WeightsError(f"{where}: source lacks {', '.join(missing)}")
        sha = entry.get("sha256", "")
        return cls(file=str(entry["file"]), converter=str(entry["converter"]),
                   sha256=_hex(sha, where, "source sha256", full=False) if sha else "",
                   urls=tuple(entry.get("urls", ())), package=entry.get("package", ""),
                   instructions=entry.get("instructions", ""),
                   kwargs=dict(entry.get("kwargs", {})))

    def packaged_path(self):
        """The file inside :attr:`package` if that package is installed, else ``None``."""
        if not self.package:
            return None
        try:
            root = resources.files(self.package)
        except ModuleNotFoundError:
            return None
        found = sorted(Path(str(root)).rglob(self.file))
        return found[0] if found else None


@dataclass(frozen=True)
class PretrainedInfo:
    """One registry entry (see :mod:`actionzoo.weights` for the fields).

    An entry either names a Keras weights file with its ``sha256`` and
    ``size`` (weights trained by this project), or a :class:`Source`
    checkpoint that is converted on first use (``sha256``/``size`` then
    describe nothing: the converted file's digest is recorded beside it).
    """

    name: str
    file: str
    architecture: dict
    preprocessing: Preprocessing
    classes: tuple
    sha256: str = ""
    size: int = 0
    urls: tuple = ()
    source: Source | None = None
    license: str = ""
    recipe: str = ""
    description: str = ""
    metrics: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, name, entry, origin="manifest"):
        """Validate a manifest entry; errors name the entry and the field."""
        where = f"{origin}: entry {name!r}"
        needed = ["file", "architecture", "preprocessing", "classes"]
        if "source" not in entry:
            needed += ["sha256", "size"]
        missing = [k for k in needed if k not in entry]
        if missing:
            raise WeightsError(f"{where} lacks {', '.join(missing)}")
        source = Source.from_dict(entry["source"], where) if "source" in entry else None
        sha = _hex(entry["sha256"], where, "sha256", full=True) if source is None else ""
        arch = dict(entry["architecture"])
        if "builder" not in arch:
            raise WeightsError(f"{where}: architecture needs a 'builder'")
        arch.setdefault("kwargs", {})
        try:
            prep = Preprocessing(**{k: tuple(v) if isinstance(v, list) else v
                                    for k, v in entry["preprocessing"].items()})
        except TypeError as exc:
            raise WeightsError(f"{where}: bad preprocessing: {exc}") from None
        return cls(name=name, file=str(entry["file"]), sha256=sha,
                   size=int(entry.get("size", 0)), architecture=arch, preprocessing=prep,
                   classes=class_names(entry["classes"], where),
                   urls=tuple(entry.get("urls", ())), source=source,
                   license=entry.get("license", ""), recipe=entry.get("recipe", ""),
                   description=entry.get("description", ""),
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
            raise UnknownWeightsError(f"no pretrained weights named {name!r} in "
                                      f"{self.manifest} (known: {known})") from None

    def local_path(self, name):
        """Existing local file (shipped or cached) of ``name``, or ``None``."""
        info = self[name]
        for path in (self.local_dir / info.file, cache_dir() / info.file):
            if path.is_file():
                return path
        return None

    def urls(self, name):
        """Download URLs of the file to fetch: the mirror or the entry's, in order.

        For a converted entry these are the source checkpoint's URLs. With
        ``ACTIONZOO_WEIGHTS_URL`` set, the mirror's ``<base>/<file name>``
        replaces them.
        """
        info = self[name]
        file, urls = (info.file, info.urls) if info.source is None else (
            info.source.file, info.source.urls)
        mirror = os.environ.get("ACTIONZOO_WEIGHTS_URL", "").strip()
        if mirror:
            return [mirror.rstrip("/") + "/" + urllib.parse.quote(file)]
        return list(urls)


_DEFAULT = {}


def default_registry():
    """The registry of ``$ACTIONZOO_MANIFEST`` or the shipped manifest (cached per path)."""
    path = Path(os.environ.get("ACTIONZOO_MANIFEST") or SHIPPED_DIR / MANIFEST_NAME)
    key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else None)
    if key not in _DEFAULT:
        _DEFAULT.clear()
        _DEFAULT[key] = Registry(path)
    return _DEFAULT[key]
