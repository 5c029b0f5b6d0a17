"""The one directory where actionzoo caches files: ``$ACTIONZOO_HOME``."""
import os
from pathlib import Path


def home_dir():
    """``$ACTIONZOO_HOME``, default ``~/.cache/actionzoo``.

    Downloaded and converted weights live in ``weights/``, downloaded source
    checkpoints in ``sources/`` and the compiled correlation op in ``ops/``.

    Examples
    --------
    >>> import os
    >>> os.environ["ACTIONZOO_HOME"] = "/tmp/az-home"
    >>> str(home_dir())
    '/tmp/az-home'
    >>> del os.environ["ACTIONZOO_HOME"]
    """
    home = os.environ.get("ACTIONZOO_HOME") or os.path.join("~", ".cache", "actionzoo")
    return Path(home).expanduser()
