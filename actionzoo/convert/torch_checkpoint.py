"""Read PyTorch ``.pth``/``.pt`` checkpoints into NumPy arrays without PyTorch.

Both serialisations of ``torch.save`` are read: the zip archive (PyTorch >=
1.6, ``archive/data.pkl`` plus one file per storage) and the legacy stream
(``_use_new_zipfile_serialization=False``: magic number, protocol, system
info, the object pickle, the storage keys, then each storage as an 8-byte
element count followed by its bytes).

The pickles are read by a restricted unpickler: the only globals it resolves
are ``collections.OrderedDict``, PyTorch's tensor/parameter rebuild functions
and its storage types, all replaced by NumPy equivalents. Anything else
(``os.system``, a pickled ``nn.Module``, a NumPy scalar, ...) is refused
before it is imported, so reading a downloaded file never executes its code.
"""
import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

# Storage class names of torch.save -> NumPy dtype.
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "UntypedStorage": np.uint8,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_WRAPPER_KEYS = ("state_dict", "model_state", "model")


class CheckpointError(ValueError):
    """A checkpoint file cannot be read (truncated, malformed, unsupported)."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint's pickle refers to a global outside the allowed set."""


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """A storage's elements; filled from the file once its bytes are known."""

    def __init__(self, dtype, numel):
        self.dtype, self.numel, self.array = dtype, int(numel), None


class _Tensor:
    """A view of a storage, resolved to an ndarray after all storages are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

    def to_numpy(self, path):
        flat = self.storage.array
        if flat is None:
            raise CheckpointError(f"{path}: a tensor refers to a storage the file does not hold")
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if min(self.size, default=1) > 0 and (
                self.offset < 0 or min(self.stride, default=0) < 0 or last >= flat.size):
            raise CheckpointError(f"{path}: a tensor of size {self.size} at offset "
                                  f"{self.offset} lies outside its storage of {flat.size}")
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], self.size, [s * itemsize for s in self.stride], writeable=False)
        return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *_):
    if not isinstance(storage, _Storage):
        raise CheckpointError(f"tensor storage is a {type(storage).__name__}, not a storage")
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_):
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path, load_storage):
        super().__init__(file)
        self._path, self._load_storage = path, load_storage

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeCheckpointError(
            f"{self._path}: refusing to load global {module}.{name}; a checkpoint may only "
            f"hold tensors, (ordered) dicts, lists, tuples, numbers and strings")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise CheckpointError(f"{self._path}: unsupported persistent id {pid!r:.80}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"{self._path}: storage of unknown type {storage_type!r:.80}")
        if numel is None or storage_type.name == "UntypedStorage":
            numel = None
        return self._load_storage(str(key), storage_type.dtype, numel)


def _unpickle(file, path, load_storage):
    try:
        return _RestrictedUnpickler(file, path, load_storage).load()
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError,
            IndexError, AttributeError, struct.error) as err:
        raise CheckpointError(f"{path}: truncated or malformed checkpoint ({err})") from err


def _read_zip(path):
    try:
        archive = zipfile.ZipFile(path)
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CheckpointError(f"{path}: truncated or malformed zip checkpoint ({err})") from err
    with archive:
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise CheckpointError(f"{path}: a PyTorch zip checkpoint holds one data.pkl, "
                                  f"found {len(pickles)}")
        prefix = pickles[0][:-len("data.pkl")]
        order = "<"
        if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder") == b"big":
            order = ">"
        storages = {}

        def load_storage(key, dtype, numel):
            if key not in storages:
                try:
                    raw = archive.read(f"{prefix}data/{key}")
                except (KeyError, zipfile.BadZipFile, OSError, EOFError) as err:
                    raise CheckpointError(f"{path}: storage {key} unreadable ({err})") from err
                storage = _Storage(dtype, len(raw) // dtype.itemsize)
                storage.array = np.frombuffer(raw, dtype.newbyteorder(order))
                storages[key] = storage
            return storages[key]

        try:
            data = archive.read(pickles[0])
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise CheckpointError(f"{path}: truncated or malformed zip checkpoint ({err})") \
                from err
        return _unpickle(io.BytesIO(data), path, load_storage)


def _read_legacy(path):
    storages = {}

    def load_storage(key, dtype, numel):
        if key not in storages:
            storages[key] = _Storage(dtype, numel or 0)
        return storages[key]

    with open(path, "rb") as f:
        magic = _unpickle(f, path, load_storage)
        if magic != _LEGACY_MAGIC:
            raise CheckpointError(f"{path}: not a PyTorch checkpoint (neither a zip archive "
                                  f"nor the legacy format's magic number)")
        _unpickle(f, path, load_storage)  # protocol version
        _unpickle(f, path, load_storage)  # system info (byte order, type sizes)
        obj = _unpickle(f, path, load_storage)
        keys = _unpickle(f, path, load_storage)
        if not isinstance(keys, list):
            raise CheckpointError(f"{path}: malformed storage key list")
        for key in keys:
            storage = storages.get(str(key))
            header = f.read(8)
            if storage is None or len(header) < 8:
                raise CheckpointError(f"{path}: truncated checkpoint (storage {key} missing)")
            numel = struct.unpack("<q", header)[0]
            raw = f.read(numel * storage.dtype.itemsize)
            if numel < 0 or len(raw) < numel * storage.dtype.itemsize:
                raise CheckpointError(f"{path}: truncated checkpoint (storage {key} has "
                                      f"{len(raw)} of {numel * storage.dtype.itemsize} bytes)")
            storage.array = np.frombuffer(raw, storage.dtype.newbyteorder("<"))
    return obj


def _resolve(obj, path):
    """Replace tensor placeholders by ndarrays throughout the loaded object."""
    if isinstance(obj, _Tensor):
        return obj.to_numpy(path)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, path)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, path) for v in obj)
    if isinstance(obj, (_Storage, _StorageType)):
        raise CheckpointError(f"{path}: a bare storage is no tensor")
    return obj


def load_torch_file(path):
    """Everything a ``torch.save`` file holds, tensors as NumPy arrays.

    Parameters
    ----------
    path : str or path-like
        A ``.pth``/``.pt`` file in either PyTorch serialisation.

    Returns
    -------
    object
        The saved object with every tensor replaced by an ``np.ndarray``.

    Raises
    ------
    UnsafeCheckpointError
        The pickle names a global outside the allowed set (nothing is imported).
    CheckpointError
        The file is truncated, malformed or no PyTorch checkpoint.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint file not found: {path!r}")
    if zipfile.is_zipfile(path):
        return _resolve(_read_zip(path), path)
    with open(path, "rb") as f:
        if f.read(4) == b"PK\x03\x04":  # a zip archive without its end: cut short
            raise CheckpointError(f"{path}: truncated or malformed zip checkpoint "
                                  f"(no central directory)")
    return _resolve(_read_legacy(path), path)


def _unwrap(obj, path):
    while isinstance(obj, dict):
        inner = [k for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)]
        if not inner:
            break
        obj = obj[inner[0]]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path}: holds no state dict (got {type(obj).__name__})")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, np.ndarray)]
    if bad:
        raise CheckpointError(f"{path}: state dict entries that are no tensors: {bad[:10]}")
    if all(k.startswith("module.") for k in obj):  # saved from nn.DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def read_state_dict(path):
    """A checkpoint's state dict as ``{name: np.ndarray}``.

    A training checkpoint's ``state_dict`` / ``model_state`` / ``model``
    entry (nested any depth) is taken, and the ``module.`` prefix of
    ``nn.DataParallel`` models is removed.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict of str to numpy.ndarray

    Raises
    ------
    UnsafeCheckpointError, CheckpointError
        See :func:`load_torch_file`; also when no state dict of tensors is found.

    Examples
    --------
    >>> import tempfile, zipfile
    >>> from actionzoo.convert.torch_checkpoint import read_state_dict
    >>> path = tempfile.mktemp(suffix=".pth")
    >>> with zipfile.ZipFile(path, "w") as z:
    ...     z.writestr("archive/data.pkl", b"garbage")
    >>> read_state_dict(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    actionzoo.convert.torch_checkpoint.CheckpointError: ...: truncated or malformed checkpoint ...
    """
    path = os.fspath(path)
    return _unwrap(load_torch_file(path), path)
