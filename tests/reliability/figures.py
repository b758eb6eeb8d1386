"""Figures measured by the reliability suite, collected in build/reliability/figures.json
(gitignored) so bench/bench_reliability.py and the README can report them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "build" / "reliability" / "figures.json"


def record_figure(key: str, value: Any) -> None:
    """Merge ``{key: value}`` into figures.json (written atomically)."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    try:
        figures = json.loads(FIGURES.read_text())
    except (FileNotFoundError, ValueError):
        figures = {}
    figures[key] = value
    tmp = FIGURES.with_name(f".figures-{os.getpid()}.json")
    tmp.write_text(json.dumps(figures, indent=2, sort_keys=True, default=str))
    os.replace(tmp, FIGURES)
