"""jupyter_server extension: mlnb's REST API under ``/mlnb/api/`` for the JupyterLab sidebar.

It is enabled automatically by the ``jupyter_server_config.d/mlnb.json`` file that
``pip install mlnb`` puts in ``etc/jupyter``. ``import mlnb`` never imports this module.
"""

from __future__ import annotations

from typing import Any

from mlnb._runtime import installed_version

# Shown by `jupyter server extension list`; the same single version as mlnb.__version__.
__version__ = installed_version()


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Tell jupyter_server where the extension lives."""
    return [{"module": "mlnb.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the handlers on a running ServerApp."""
    from mlnb.server.handlers import setup_handlers

    setup_handlers(serverapp)
