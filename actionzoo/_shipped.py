"""Where the data files the project ships (``weights/``, ``recipes/``) are found."""
import sys
from pathlib import Path


def shipped_dir(name, marker):
    """Folder ``name`` of a source checkout (editable install), else of the installed data files.

    The checkout's ``<repo>/<name>`` wins when it holds ``marker``; else
    ``<sys.prefix>/share/actionzoo/<name>`` (where ``pip install`` puts the
    ``[tool.setuptools.data-files]``) when it does; else the checkout path.
    """
    candidates = [Path(__file__).resolve().parent.parent / name,
                  Path(sys.prefix) / "share" / "actionzoo" / name]
    for candidate in candidates:
        if (candidate / marker).is_file():
            return candidate
    return candidates[0]
