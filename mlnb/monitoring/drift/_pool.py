"""Threads that work on the next chunk while the last one's slowest columns finish.

Waiting for every column of a chunk before starting the next leaves a core idle at each
chunk's end (and while the next chunk is read). Jobs carry a key (a column): jobs with the
same key run one after another in the order they were submitted, so results are exactly
those of running the chunks one by one; at most ``depth`` chunks are in flight, so memory
stays bounded by that many chunks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor


class OrderedPool:
    """A thread pool whose jobs run in submission order per key, ``depth`` batches ahead."""

    def __init__(self, workers: int, depth: int = 2) -> None:
        self.pool = ThreadPoolExecutor(workers)
        self.depth = depth
        self.batches: list[list[Future[object]]] = []
        self.submitted: dict[Hashable, int] = {}
        self.finished: dict[Hashable, int] = {}
        self.changed = threading.Condition()

    def submit(self, jobs: list[tuple[Hashable, Callable[[], object]]]) -> list[object]:
        """Queue one batch; returns the results of the batch that fell out of flight."""
        batch = []
        for key, job in jobs:
            turn = self.submitted.get(key, 0)
            self.submitted[key] = turn + 1
            batch.append(self.pool.submit(self._in_turn, key, turn, job))
        self.batches.append(batch)
        done: list[object] = []
        while len(self.batches) >= self.depth:
            done += [f.result() for f in self.batches.pop(0)]
        return done

    def drain(self) -> list[object]:
        """Wait for every queued job; their results, in submission order."""
        done: list[object] = []
        while self.batches:
            done += [f.result() for f in self.batches.pop(0)]
        return done

    def _in_turn(self, key: Hashable, turn: int, job: Callable[[], object]) -> object:
        with self.changed:
            while self.finished.get(key, 0) < turn:
                self.changed.wait()
        try:
            return job()
        finally:
            with self.changed:
                self.finished[key] = turn + 1
                self.changed.notify_all()

    def close(self) -> None:
        """Wait for the running jobs and stop the threads (results are dropped)."""
        self.pool.shutdown(wait=True)
        self.batches = []
