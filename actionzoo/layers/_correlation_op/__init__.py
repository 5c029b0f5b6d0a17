"""C++ TensorFlow custom op for :class:`actionzoo.layers.Correlation`.

The source ``correlation_op.cc`` ships with the package and is compiled with
``g++`` against the installed TensorFlow the first time it is needed. The
shared library is cached under ``$ACTIONZOO_HOME/ops`` (default
``~/.cache/actionzoo/ops``), keyed by a hash of the source, the compiler
command, the TensorFlow version and the CPU model, so a new TensorFlow or a
changed source rebuilds it and concurrent processes never see a half-written
file. If compiling or loading fails, :func:`available` returns ``False``, a
warning with the compiler's message is logged once, and the layer uses the
XLA implementation instead. Set ``ACTIONZOO_CORRELATION_OP=0`` to skip the op.
"""
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile

from actionzoo._home import home_dir

logger = logging.getLogger(__name__)

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "correlation_op.cc")
MAX_KERNEL_SIZE = 15  # the op keeps K accumulators per row in registers
_CXX_FLAGS = ["-shared", "-fPIC", "-O3", "-march=native", "-fopenmp-simd"]


def cache_dir():
    """Directory that holds compiled op libraries."""
    return os.path.join(home_dir(), "ops")


def _cpu_model():
    """CPU name and feature flags (the library is built with -march=native)."""
    lines = []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "flags")) and line not in lines:
                    lines.append(line)
                if len(lines) == 2:
                    break
    except OSError:
        pass
    return "".join(lines) or platform.processor() or platform.machine()


def _build_command(output):
    import tensorflow as tf

    cxx = os.environ.get("CXX", "g++")
    return ([cxx, *_CXX_FLAGS, *tf.sysconfig.get_compile_flags(), _SOURCE, "-o", output,
             *tf.sysconfig.get_link_flags()])


def library_path():
    """Path of the cached shared library for this source and TensorFlow."""
    import tensorflow as tf

    with open(_SOURCE, "rb") as f:
        source = f.read()
    key = hashlib.sha256(b"\0".join([
        source, " ".join(_build_command("OUT")).encode(), tf.__version__.encode(),
        _cpu_model().encode()])).hexdigest()[:16]
    return os.path.join(cache_dir(), f"correlation_op-tf{tf.__version__}-{key}.so")


def _compile(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=os.path.dirname(path))
    os.close(fd)
    try:
        cmd = _build_command(tmp)
        if shutil.which(cmd[0]) is None:
            raise RuntimeError(f"C++ compiler {cmd[0]!r} not found")
        logger.info("compiling the Correlation op (once per TensorFlow version): %s",
                    " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"g++ failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@functools.lru_cache(maxsize=None)
def load():
    """Compile (if needed) and load the op library; ``None`` if unavailable."""
    if os.environ.get("ACTIONZOO_CORRELATION_OP", "1") == "0":
        logger.info("Correlation C++ op disabled by ACTIONZOO_CORRELATION_OP=0")
        return None
    try:
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            logger.info("Correlation C++ op is CPU-only; a GPU is present, using XLA")
            return None
        path = library_path()
        if not os.path.exists(path):
            _compile(path)
        return tf.load_op_library(path)
    except Exception as exc:  # any failure means: use the XLA path
        logger.warning("Correlation C++ op unavailable, falling back to the XLA "
                       "implementation: %s", exc)
        return None


def available():
    """Whether the compiled op can be used in this process."""
    return load() is not None


def correlation(x, kernel, kernel_size, dilation, group_size):
    """Correlation through the C++ op, differentiable in ``x`` and ``kernel``.

    ``x`` is float32 ``(B, L, H, W, C)``; ``kernel`` is ``(L, K, K, C)`` or
    ``None`` for the plain operator (then no kernel gradient is computed).
    """
    import tensorflow as tf

    lib = load()
    if lib is None:
        raise RuntimeError("the Correlation C++ op is not available")
    attrs = dict(kernel_size=kernel_size, dilation=dilation, group_size=group_size)
    x = tf.convert_to_tensor(x)
    learnable = kernel is not None

    @tf.custom_gradient
    def _corr(x, *maybe_kernel):
        if learnable:
            kern = maybe_kernel[0]
        else:
            kern = tf.ones(tf.stack([tf.shape(x)[1], kernel_size, kernel_size,
                                     tf.shape(x)[4]]), x.dtype)
        out = lib.actionzoo_correlation(x, kern, **attrs)

        def grad(dy):
            dx = lib.actionzoo_correlation_grad_input(x, kern, dy, **attrs)
            if not learnable:
                return dx
            return dx, lib.actionzoo_correlation_grad_kernel(x, kern, dy, **attrs)

        return out, grad

    if learnable:
        return _corr(x, tf.convert_to_tensor(kernel))
    return _corr(x)
