"""Per-thread scratch arrays for the block-wise passes of fitting and scoring.

Two threads that allocate and free block-sized temporaries at once pay for it in the kernel:
each array past malloc's threshold is mapped, zeroed on first touch and unmapped again,
and every unmap interrupts the other core to flush its view of the memory. At 100k-row
chunks that costs more than the counting itself. Each thread reuses its own buffers.
"""

from __future__ import annotations

import threading

import numpy as np

BLOCK = 1 << 16  # values per pass, at least: temporaries stay near the core

_local = threading.local()


def scratch(name: str, dtype: type, n: int) -> np.ndarray:
    """A reusable array of ``n`` items owned by this thread, valid until the thread asks for
    ``name`` again (callers use it before their next block)."""
    buffers: dict[str, np.ndarray] | None = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    buf = buffers.get(name)
    if buf is None or len(buf) < n:
        buf = buffers[name] = np.empty(max(n, BLOCK), dtype=dtype)
    return buf[:n]


def blocks(n: int) -> list[slice]:
    """Passes over ``n`` values: near-equal parts of ``BLOCK`` to ``2 * BLOCK`` values (one
    when ``n`` is smaller, none for none). Each pass pays a fixed cost in calls and thread
    hand-overs, so a 100k-row chunk is one pass rather than a full one and a third of one."""
    if n == 0:
        return []
    parts = max(1, n // BLOCK)
    cuts = [i * n // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in zip(cuts, cuts[1:], strict=False)]


def centered_sum_of_squares(x: np.ndarray, center: float) -> float:
    """Sum of (x - center)**2, a block at a time in scratch space (no array the size of x)."""
    total = 0.0
    for part in blocks(len(x)):
        xb = x[part]
        d = np.subtract(xb, center, out=scratch("centered", np.float64, len(xb)))
        total += float(np.einsum("i,i->", d, d))
    return total
