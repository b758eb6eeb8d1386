"""Threads that work on the next chunk while the last one's slowest columns finish.

Waiting for every column of a chunk before starting the next leaves a core idle at each
chunk's end (and while the next chunk is read). Jobs carry a key (a column): jobs with the
same key run one after another in the order they were submitted, so results are exactly
those of running the chunks one by one; at most ``depth`` chunks are in flight, so memory
stays bounded by that many chunks.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor

# Cells (rows x columns) a thread task should hold at least: a chunk's columns are handed
# out several to a task when the chunk is short.
TASK_CELLS = 300_000


def jobs_per_task(rows: int) -> int:
    """How many of a ``rows``-row chunk's column jobs make one thread task."""
    return max(1, math.ceil(TASK_CELLS / max(rows, 1)))


class OrderedPool:
    """A thread pool whose jobs run in submission order per key, ``depth`` batches ahead."""

    def __init__(self, workers: int, depth: int = 2) -> None:
        self.pool = ThreadPoolExecutor(workers)
        self.depth = depth
        self.batches: list[list[Future[list[object]]]] = []
        self.submitted: dict[Hashable, int] = {}
        self.finished: dict[Hashable, int] = {}
        self.changed = threading.Condition()

    def submit(
        self, jobs: list[tuple[Hashable, Callable[[], object]]], per_task: int = 1
    ) -> list[object]:
        """Queue one batch, ``per_task`` consecutive jobs to a thread task (small chunks make
        many short jobs, each paying a wake-up and a GIL hand-over); returns the results of
        the batch that fell out of flight."""
        batch = []
        size = max(1, per_task)
        for start in range(0, len(jobs), size):
            part = jobs[start : start + size]
            turns = []
            for key, _ in part:
                turn = self.submitted.get(key, 0)
                self.submitted[key] = turn + 1
                turns.append((key, turn))
            batch.append(self.pool.submit(self._in_turn, turns, [job for _, job in part]))
        self.batches.append(batch)
        done: list[object] = []
        while len(self.batches) >= self.depth:
            done += self._results(self.batches.pop(0))
        return done

    def drain(self) -> list[object]:
        """Wait for every queued job; their results, in submission order."""
        done: list[object] = []
        while self.batches:
            done += self._results(self.batches.pop(0))
        return done

    @staticmethod
    def _results(batch: list[Future[list[object]]]) -> list[object]:
        return [result for task in batch for result in task.result()]

    def _in_turn(
        self, turns: list[tuple[Hashable, int]], jobs: list[Callable[[], object]]
    ) -> list[object]:
        """Run the jobs once each key's earlier jobs are done (they were queued earlier, so
        they are running or finished: waiting never deadlocks)."""
        with self.changed:
            while any(self.finished.get(key, 0) < turn for key, turn in turns):
                self.changed.wait()
        try:
            return [job() for job in jobs]
        finally:
            with self.changed:
                for key, turn in turns:
                    self.finished[key] = turn + 1
                self.changed.notify_all()

    def close(self) -> None:
        """Wait for the running jobs and stop the threads (results are dropped)."""
        self.pool.shutdown(wait=True)
        self.batches = []
