"""`mapper dataset build --workers N`: sources prepared in N worker processes, placed in order.

Preparing a source (extracting an archive, parsing every beatmap, measuring its audio, star rating
at seven rates) needs no dataset state and is most of a build's time; placing it (ids, duplicates,
set folders, the build state) is quick and stays in the main process, in source order. The workers
run a window of sources ahead of the one being placed, so the result is the serial build's: the same
rows in the same order, the same files, the same list of skipped files, and the same resumability
(the main process alone writes and checkpoints; workers write only their own staging folder).

Workers are forked (`python -m mapperator_cli` cannot be re-imported by spawned children), ignore
Ctrl-C (the main process stops them), and end on their own when the main process is gone, even
after SIGKILL.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

AHEAD_PER_WORKER = 2  # sources in flight per worker: keeps workers busy, bounds the results held in memory
PARENT_POLL_S = 0.5


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # orphaned: the build that wanted this work is gone


def _start_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class SourcePreparer:
    """`prepare(index)` for sources in worker processes, submitted a window ahead of use; `prepare_source`
    (source, folder to extract into) is `training.dataset_build.prepare_source`."""

    def __init__(self, sources: list, needs_work: Callable[[object], bool], prepare_source: Callable,
                 staging: Path, workers: int):
        import multiprocessing

        self._prepare = prepare_source
        self._sources = sources
        self._staging = staging
        self._todo = [i for i, source in enumerate(sources) if needs_work(source)]
        self._next = 0  # position in _todo of the next source to submit
        self._futures: dict[int, Future] = {}
        self._window = max(1, workers) * AHEAD_PER_WORKER
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_start_worker, initargs=(os.getpid(),))

    def __enter__(self) -> SourcePreparer:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def prepare(self, index: int) -> Callable[[], object] | None:
        """What `_Builder.add` calls to get source `index` prepared (None: not sent to a worker)."""
        self._fill(index)
        future = self._futures.pop(index, None)
        return future.result if future is not None else None

    def _fill(self, index: int) -> None:
        while self._next < len(self._todo) and (self._todo[self._next] <= index or len(self._futures) < self._window):
            i = self._todo[self._next]
            self._futures[i] = self._pool.submit(self._prepare, self._sources[i], self._staging / f"extracted-{i}")
            self._next += 1
