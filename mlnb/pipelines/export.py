"""``mlnb pipeline export NAME --crontab|--systemd``: the entry to install so pipelines run
without a notebook server or an open terminal.

Paths go into both as data, whatever they hold (quotes, backslashes, ``%``, ``$``, spaces,
newlines, unicode): a crontab line is one ``/bin/sh`` command in which cron turns ``%`` into
a newline, and a systemd unit has its own quoting, C escapes, ``%`` specifiers and ``$``
variables. Workers run in each notebook's own folder, so neither sets a working directory.
"""

from __future__ import annotations

import shlex
import shutil
import string
import sys
from pathlib import Path
from typing import Any

from mlnb.errors import ValidationError
from mlnb.pipelines.config import PipelineConfig

_PLAIN = frozenset(string.ascii_letters + string.digits + "/._-+,:@=")


def mlnb_argv() -> list[str]:
    """The absolute ``mlnb`` command of this installation (the venv's script if present)."""
    script = Path(sys.executable).with_name("mlnb")
    if script.exists():
        return [str(script)]
    found = shutil.which("mlnb")
    return [found] if found else [sys.executable, "-m", "mlnb"]


def cron_word(text: str) -> str:
    """``text`` as one word of a ``/bin/sh`` command on a crontab line.

    Plain text is single-quoted. Text that cron or a single line cannot carry (``%``, which
    cron turns into a newline even inside quotes, or a newline) is spelt as octal escapes
    that ``printf`` turns back into the same bytes.
    """
    if "%" not in text and "\n" not in text and "\r" not in text:
        return shlex.quote(text)
    if text.endswith(("\n", "\r")):
        raise ValidationError(
            f"the path {text!r} ends with a line break, which a crontab line cannot carry "
            "(the shell drops it); rename it, or use --systemd."
        )
    spelt = "".join(
        c if c in _PLAIN else "".join(f"\\{b:03o}" for b in c.encode("utf-8", "surrogateescape"))
        for c in text
    )
    return f"\"$(printf '{spelt}')\""


def systemd_word(text: str, expand_dollar: bool = True) -> str:
    """``text`` as one double-quoted word of a unit file: C escapes for quotes, backslashes and
    control characters, ``%%`` for ``%`` (specifiers) and, where the setting expands variables
    (``ExecStart=``), ``$$`` for ``$``."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "%":
            out.append("%%")
        elif c == "$" and expand_dollar:
            out.append("$$")
        elif c == "\n":
            out.append("\\n")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def systemd_argv(argv: list[str]) -> list[str]:
    """``argv`` as ExecStart= runs it. systemd refuses an executable path with quotes,
    backslashes or control characters (and does not expand ``$$`` in it): such a path is
    handed to ``/bin/sh`` as an argument instead, where any text is allowed."""
    if set(argv[0]) <= _PLAIN | {" "} and "$" not in argv[0] and "%" not in argv[0]:
        return argv
    return ["/bin/sh", "-c", 'exec "$0" "$@"', *argv]


def export_crontab(reg: Any, name: str) -> str:
    """A crontab line running ``mlnb scheduler --once`` every minute for this registry.

    mlnb itself decides what is due in the pipeline's time zone, so the line is the same for
    every schedule and trigger (cron's own time zone handling varies between systems).
    """
    pipeline = reg.pipelines.get(name)
    cfg = PipelineConfig.from_dict(pipeline["config"])
    home = Path(reg.home).resolve()
    log = home / "pipelines" / "scheduler-cron.log"
    triggers = ", ".join(cfg.triggers) or "manual only"
    schedule = f"'{cfg.schedule}' in {cfg.timezone}" if cfg.schedule else "none"
    command = (
        f"MLNB_HOME={cron_word(str(home))} "
        + " ".join(cron_word(part) for part in mlnb_argv())
        + f" scheduler --once >> {cron_word(str(log))} 2>&1"
    )
    return "\n".join(
        [
            f"# mlnb pipeline {name}: triggers {triggers}; schedule {schedule}.",
            "# Install with `crontab -e`. Every minute cron starts `mlnb scheduler --once`,",
            "# which runs whatever is due in this registry (every pipeline in it, in each",
            "# pipeline's own time zone) and exits; one line serves all pipelines of a registry.",
            "# If a scheduler is already running, --once leaves the work to it; it exits 1",
            "# when a run it started failed (see the log named at the end of the line).",
            f"* * * * * {command}",
        ]
    )


def export_systemd(reg: Any, name: str) -> str:
    """A systemd user service that keeps ``mlnb scheduler`` running for this registry."""
    reg.pipelines.get(name)  # an unknown pipeline is a NotFoundError
    home = Path(reg.home).resolve()
    unit = "mlnb-scheduler-" + _unit_slug(home)
    command = " ".join(systemd_word(part) for part in systemd_argv([*mlnb_argv(), "scheduler"]))
    return "\n".join(
        [
            f"# ~/.config/systemd/user/{unit}.service  (runs pipeline {name} and every other",
            "# pipeline of this registry). Install:",
            f"#   systemctl --user daemon-reload && systemctl --user enable --now {unit}",
            f"#   journalctl --user -u {unit} -f      # its log",
            "[Unit]",
            f"Description=mlnb scheduler (pipeline {name} and the rest of its registry)",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=simple",
            f"Environment={systemd_word('MLNB_HOME=' + str(home), expand_dollar=False)}",
            f"ExecStart={command}",
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
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in slug)
