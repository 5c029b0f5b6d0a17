"""Find, download, verify and (for converted entries) convert registry weights."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from actionzoo.weights._registry import (
    ChecksumError,
    DownloadError,
    OfflineError,
    UnknownWeightsError,
    WeightsError,
    cache_dir,
    default_registry,
    sha256sum,
    source_dir,
)

_CHUNK = 1 << 16
_TIMEOUT = 30.0
_TRUE = ("1", "true", "yes", "on")


def _offline():
    return os.environ.get("ACTIONZOO_OFFLINE", "").strip().lower() in _TRUE


@dataclass(frozen=True)
class _Expected:
    """What a fetched file must be: ``sha256`` (full digest or prefix), ``size`` if known."""

    name: str
    file: str
    sha256: str
    size: int | None = None

    def check_digest(self, digest, where):
        if self.sha256 and not digest.startswith(self.sha256):
            what = "sha256" if len(self.sha256) == 64 else "sha256 prefix"
            raise ChecksumError(f"{where}: sha256 {digest} does not match the {what} "
                                f"{self.sha256} expected for weights {self.name!r}; "
                                "nothing was cached")

    def check_file(self, path):
        if self.size is not None:
            size = os.path.getsize(path)
            if size != self.size:
                raise ChecksumError(f"{path}: size {size} bytes, expected {self.size} for "
                                    f"weights {self.name!r} (truncated or wrong file)")
        self.check_digest(sha256sum(path), path)


def _expected_file(info):
    return _Expected(info.name, info.file, info.sha256, info.size)


def _expected_source(info):
    return _Expected(info.name, info.source.file, info.source.sha256)


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _fetch(url, dest_dir, expected, verbose, timeout):
    """Stream ``url`` into a temp file in ``dest_dir``; verify; return the temp path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{expected.file}.", suffix=".part", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "actionzoo"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                announced = response.headers.get("Content-Length")
                announced = int(announced) if announced and announced.isdigit() else None
                if None not in (announced, expected.size) and announced != expected.size:
                    raise ChecksumError(f"{url} announces {announced} bytes, expected "
                                        f"{expected.size} for weights {expected.name!r}; "
                                        "nothing was cached")
                limit = expected.size if expected.size is not None else announced
                digest, received = hashlib.sha256(), 0
                from tqdm.auto import tqdm

                with tqdm(total=limit, unit="B", unit_scale=True, unit_divisor=1024,
                          desc=expected.file, disable=not verbose, leave=False) as bar:
                    while True:
                        try:
                            chunk, cut = response.read(_CHUNK), False
                        except http.client.IncompleteRead as exc:  # peer closed early
                            chunk, cut = exc.partial, True
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                        if cut or not chunk or (limit is not None and received > limit):
                            break
        if announced is not None and received < announced:
            raise DownloadError(f"interrupted transfer from {url}: received {received} of "
                                f"{announced} bytes (Content-Length); nothing was cached, retry")
        if expected.size is not None and received != expected.size:
            raise ChecksumError(f"{url}: received {received} bytes, expected {expected.size} "
                                f"for weights {expected.name!r}; nothing was cached")
        expected.check_digest(digest.hexdigest(), url)
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


def _download_to(target, urls, expected, *, hint, verbose, timeout):
    """Fetch the first of ``urls`` that passes verification into ``target``."""
    if _offline():
        where = urls[0] if urls else hint
        digest = f"sha256 {expected.sha256}" if expected.sha256 else "any sha256"
        raise OfflineError(
            f"ACTIONZOO_OFFLINE is set and weights {expected.name!r} are not available locally: "
            f"download {where} and place it at {target} ({digest}), or unset ACTIONZOO_OFFLINE")
    if not urls:
        raise DownloadError(
            f"weights {expected.name!r} have no download URL: {hint}; place "
            f"{expected.file} at {target}, or set ACTIONZOO_WEIGHTS_URL to a mirror holding it")
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        try:
            tmp = _fetch(url, target.parent, expected, verbose, timeout)
        except WeightsError as exc:
            errors.append(exc)
            continue
        os.replace(tmp, target)
        return target
    if len(errors) == 1:
        raise errors[0]
    raise DownloadError("all downloads failed: " + "; ".join(str(e) for e in errors))


def _cached_or_download(target, urls, expected, *, force, hint, verbose, timeout):
    if target.is_file() and not force:
        try:
            expected.check_file(target)
            return target
        except ChecksumError as exc:
            if _offline():
                raise
            if verbose:
                print(f"actionzoo: {exc}; downloading again")
    return _download_to(target, urls, expected, hint=hint, verbose=verbose, timeout=timeout)


def source_path(name, *, force=False, verbose=1, timeout=_TIMEOUT, registry=None):
    """Local, verified path of the source checkpoint of the converted entry ``name``.

    Looked up in the installed package named by the entry, then in
    ``$ACTIONZOO_HOME/sources``; downloaded there otherwise (same
    verification and atomic move as :func:`download`).
    """
    reg = registry or default_registry()
    info = reg[name]
    if info.source is None:
        raise WeightsError(f"weights {info.name!r} are not converted from a source checkpoint")
    expected = _expected_source(info)
    packaged = info.source.packaged_path()
    if packaged is not None:
        expected.check_file(packaged)
        return packaged
    hint = info.source.instructions or (
        f"install the Python package {info.source.package!r}" if info.source.package
        else "its publisher's site")
    return _cached_or_download(source_dir() / info.source.file, reg.urls(name), expected,
                               force=force, hint=hint, verbose=verbose, timeout=timeout)


def _record_path(target):
    return target.with_name(target.name + ".json")


def _converted(target, info):
    """``target`` if it holds the recorded conversion of ``info``'s source, else None."""
    try:
        record = json.loads(_record_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (target.is_file() and record.get("source_file") == info.source.file
            and str(record.get("source", "")).startswith(info.source.sha256)
            and record.get("converter") == info.source.converter
            and record.get("sha256") == sha256sum(target)):
        return target
    return None


def convert_source(name, *, verbose=1, timeout=_TIMEOUT, registry=None):
    """Path of the converted ``.weights.h5`` of ``name``, converting on first use.

    The converted file is written to a temporary name, moved into
    ``$ACTIONZOO_HOME/weights`` and recorded with its full sha256 and the
    source's in ``<file>.json``; later calls check that digest and reuse
    the file without converting again (the source checkpoint is then not
    needed).
    """
    from actionzoo.convert import convert_checkpoint, save_converted

    reg = registry or default_registry()
    info = reg[name]
    target = cache_dir() / info.file
    if _converted(target, info) is not None:
        return target
    source = source_path(name, verbose=verbose, timeout=timeout, registry=reg)
    source_digest = sha256sum(source)
    model = convert_checkpoint(source, info.source.converter, **info.source.kwargs)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{info.file}.", suffix=".part.weights.h5",
                               dir=target.parent)
    os.close(fd)
    fd, tmp_record = tempfile.mkstemp(prefix=f".{info.file}.", suffix=".part.json",
                                      dir=target.parent)
    os.close(fd)
    try:
        digest = save_converted(model, tmp)
        Path(tmp_record).write_text(json.dumps(
            {"sha256": digest, "source": source_digest, "converter": info.source.converter,
             "source_file": info.source.file}, indent=1), encoding="utf-8")
        os.replace(tmp, target)
        os.replace(tmp_record, _record_path(target))
    finally:
        _remove(tmp)
        _remove(tmp_record)
    return target


def download(name, *, force=False, verbose=1, timeout=_TIMEOUT, registry=None):
    """Local path of the weights ``name``, downloading (and converting) them if needed.

    Shipped files and cache hits are verified (size and sha256) and returned
    without network access. A cached file that fails verification is
    downloaded again. Downloads go to a temporary file in the cache
    directory and are moved into place only after the transfer is complete
    and the sha256 matches. Entries converted from a published checkpoint
    fetch that checkpoint (verified against the sha256 or the prefix its
    publisher announces) and convert it once (see :func:`convert_source`).

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
        HTTP error (e.g. 404, naming the URL), network error, an
        interrupted transfer (fewer bytes than ``Content-Length``), or an
        entry without URL (the message says where to place the file).
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
    if info.source is not None:
        if force:
            source_path(name, force=True, verbose=verbose, timeout=timeout, registry=reg)
        return convert_source(name, verbose=verbose, timeout=timeout, registry=reg)
    expected = _expected_file(info)
    shipped = reg.local_dir / info.file
    if shipped.is_file():
        expected.check_file(shipped)
        return shipped
    return _cached_or_download(cache_dir() / info.file, reg.urls(name), expected, force=force,
                               hint="its source (the entry has no URL)", verbose=verbose,
                               timeout=timeout)


def verify(path_or_name, *, registry=None):
    """Check a file against the registry; return its :class:`PretrainedInfo`.

    Parameters
    ----------
    path_or_name : str or path-like
        A registry name (its shipped or cached file is checked) or the path
        of a weights file (matched to the entry with that file name).
        Converted files are checked against the digest recorded when they
        were converted.

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
    if info.source is None:
        _expected_file(info).check_file(path)
        return info
    try:
        recorded = json.loads(_record_path(path).read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError):
        raise ChecksumError(f"{path}: no conversion record {_record_path(path).name} "
                            f"beside it; convert again with `actionzoo weights download "
                            f"{info.name}`") from None
    _Expected(info.name, info.file, recorded).check_file(path)
    return info
