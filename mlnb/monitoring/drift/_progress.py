"""Progress bars for long fits and scores: tqdm when installed, else a plain stderr line."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """A progress bar that does nothing unless ``enabled``; ``total`` may be unknown."""

    def __init__(
        self, enabled: bool, desc: str, total: int | None = None, unit: str = "it"
    ) -> None:
        self.enabled = bool(enabled)
        self.desc = desc
        self.total = total
        self.unit = unit
        self.count = 0
        self.started = time.monotonic()
        self._bar: Any = None
        self._last_draw = 0.0
        if not self.enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            self._draw()
        else:
            self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True)

    def update(self, n: int = 1) -> None:
        if not self.enabled:
            return
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
        elif time.monotonic() - self._last_draw >= 0.2 or self.count == self.total:
            self._draw()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()
        self.enabled = False

    def _draw(self) -> None:
        self._last_draw = time.monotonic()
        elapsed = self._last_draw - self.started
        if self.total:
            done = min(self.count / self.total, 1.0)
            bar = "#" * int(done * 30)
            text = (
                f"\r{self.desc}: [{bar:<30}] {self.count}/{self.total} {self.unit}s {elapsed:.1f}s"
            )
        else:
            text = f"\r{self.desc}: {self.count} {self.unit}s {elapsed:.1f}s"
        sys.stderr.write(text)
        sys.stderr.flush()
