"""Progress bars for long fits and scores, through ``tqdm.auto``: a widget bar in a notebook,
a text bar on stderr in a terminal or a papermill log."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


class Progress:
    """A progress bar that does nothing unless ``enabled``; ``total`` may be unknown."""

    def __init__(
        self, enabled: bool, desc: str, total: int | None = None, unit: str = "it"
    ) -> None:
        self.enabled = bool(enabled)
        self.count = 0
        self._bar: Any = None
        if self.enabled:
            self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True)

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self.count += n
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.enabled = False
