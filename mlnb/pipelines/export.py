"""``mlnb pipeline export NAME --crontab|--systemd``: the entry to install so pipelines run
without a notebook server or an open terminal."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from mlnb.pipelines.config import PipelineConfig


def mlnb_command() -> str:
    """The absolute ``mlnb`` command of this installation (the venv's script if present)."""
    script = Path(sys.executable).with_name("mlnb")
    if script.exists():
        return str(script)
    found = shutil.which("mlnb")
    return found or f"{sys.executable} -m mlnb"


def export_crontab(reg: Any, name: str) -> str:
    """A crontab line running ``mlnb scheduler --once`` every minute for this registry.

    mlnb itself decides what is due in the pipeline's time zone, so the line is the same for
    every schedule and trigger (cron's own time zone handling varies between systems).
    """
    pipeline = reg.pipelines.get(name)
    cfg = PipelineConfig.from_dict(pipeline["config"])
    home = Path(reg.home)
    log = home / "pipelines" / "scheduler-cron.log"
    workdir = Path(pipeline["notebook_path"]).parent
    triggers = ", ".join(cfg.triggers) or "manual only"
    schedule = f"'{cfg.schedule}' in {cfg.timezone}" if cfg.schedule else "none"
    command = (
        f"cd {shlex.quote(str(workdir))} && MLNB_HOME={shlex.quote(str(home))} "
        f"{mlnb_command()} scheduler --once >> {shlex.quote(str(log))} 2>&1"
    )
    return "\n".join(
        [
            f"# mlnb pipeline {name}: triggers {triggers}; schedule {schedule}.",
            "# Install with `crontab -e`. Every minute cron starts `mlnb scheduler --once`,",
            "# which runs whatever is due in this registry (every pipeline in it, in each",
            "# pipeline's own time zone) and exits; one line serves all pipelines of a registry.",
            "# If a scheduler is already running, --once leaves the work to it.",
            f"* * * * * {command}",
        ]
    )


def export_systemd(reg: Any, name: str) -> str:
    """A systemd user service that keeps ``mlnb scheduler`` running for this registry."""
    pipeline = reg.pipelines.get(name)
    home = Path(reg.home)
    workdir = Path(pipeline["notebook_path"]).parent
    unit = "mlnb-scheduler-" + _unit_slug(home)
    return "\n".join(
        [
            f"# ~/.config/systemd/user/{unit}.service  (runs pipeline {name} and every other",
            "# pipeline of this registry). Install:",
            f"#   systemctl --user daemon-reload && systemctl --user enable --now {unit}",
            f"#   journalctl --user -u {unit} -f      # its log",
            "[Unit]",
            f"Description=mlnb scheduler for {home}",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=simple",
            f"WorkingDirectory={workdir}",
            f"Environment=MLNB_HOME={home}",
            f"ExecStart={mlnb_command()} scheduler",
            "Restart=on-failure",
            "RestartSec=10",
            "KillMode=mixed",
            "TimeoutStopSec=60",
            "",
            "[Install]",
            "WantedBy=default.target",
        ]
    )


def _unit_slug(home: Path) -> str:
    parts = [p for p in home.parts if p not in ("/", ".mlnb")][-2:]
    slug = "-".join(parts) or "registry"
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in slug)
