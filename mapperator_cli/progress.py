"""A rich progress bar per generation pass, on stderr (stdout carries only results)."""

from __future__ import annotations

import time


class PassProgress:
    def __init__(self, enabled: bool = True, unit: str = "windows", verb: str = "generating"):
        self.enabled = enabled
        self.unit = unit
        self.verb = verb
        self._progress = None
        self._tasks: dict[str, int] = {}
        self._started = time.perf_counter()

    def __enter__(self) -> PassProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn(self.unit), TimeRemainingColumn(),
                                      console=Console(stderr=True), transient=False)
            self._progress.__enter__()
        return self

    def update(self, name: str, done: int, total: int) -> None:
        if self._progress is None:
            return
        if name not in self._tasks:
            self._tasks[name] = self._progress.add_task(f"{self.verb} {name}".strip(), total=total)
        self._progress.update(self._tasks[name], completed=done)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
