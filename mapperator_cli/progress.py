"""Progress of a run on stderr (stdout carries only results): a rich bar per pass for people, or
`--progress json`, one JSON line per update, for tools (`mapper web` reads it)."""

from __future__ import annotations

import json
import sys
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

    def update(self, name: str, done: int, total: int, tokens: int | None = None) -> None:
        if self._progress is None:
            return
        if name not in self._tasks:
            self._tasks[name] = self._progress.add_task(f"{self.verb} {name}".strip(), total=total)
        self._progress.update(self._tasks[name], completed=done)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


class JsonProgress:
    """One line per update: {"pass", "done", "total", "tokens", "tokens_per_s", "elapsed_s"}.

    `tokens` counts the tokens decoded so far in the run (null where the caller does not count them);
    `tokens_per_s` is the rate since the previous update (null on the first one, whose interval holds the
    loading of the song and the model, not decoding alone).
    Each line is flushed at once, so a reader sees it as it happens."""

    def __init__(self, enabled: bool = True, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._started = self._last_time = time.perf_counter()
        self._last_tokens = 0
        self._updates = 0

    def __enter__(self) -> JsonProgress:
        return self

    def update(self, name: str, done: int, total: int, tokens: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        rate = None
        if tokens is not None:
            interval = now - self._last_time
            if self._updates and interval > 0:
                rate = round((tokens - self._last_tokens) / interval, 1)
            self._last_tokens = tokens
        self._last_time = now
        self._updates += 1
        record = {"pass": name, "done": done, "total": total, "tokens": tokens, "tokens_per_s": rate,
                  "elapsed_s": round(now - self._started, 3)}
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()

    def __exit__(self, *exc) -> None:
        return None


def progress_reporter(kind: str, enabled: bool = True, unit: str = "windows", verb: str = "generating"):
    """The reporter `--progress` names: "bar" (rich, for people) or "json" (for tools)."""
    if kind == "json":
        return JsonProgress(enabled=enabled)
    return PassProgress(enabled=enabled, unit=unit, verb=verb)
