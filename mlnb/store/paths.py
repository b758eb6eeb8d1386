"""Where the registry lives: ``MLNB_HOME``, an explicit path, or ``.mlnb/`` in the working folder."""

from __future__ import annotations

import os
from pathlib import Path

REGISTRY_DIRNAME = ".mlnb"
DB_FILENAME = "registry.db"
OBJECTS_DIRNAME = "objects"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The registry folder to use: the argument, else ``$MLNB_HOME``, else ``./.mlnb``.

    A folder that already holds ``registry.db`` or is named ``.mlnb`` is used as is; any other
    folder given explicitly gets a ``.mlnb`` inside it only when it is a project folder that
    already contains one.
    """
    if home is None:
        env = os.environ.get("MLNB_HOME")
        home = env if env else Path.cwd() / REGISTRY_DIRNAME
    path = Path(home).expanduser()
    if path.suffix == ".db" and path.name == DB_FILENAME:
        path = path.parent
    if (path / REGISTRY_DIRNAME / DB_FILENAME).exists() and not (path / DB_FILENAME).exists():
        path = path / REGISTRY_DIRNAME
    return path.absolute()
