"""Runs of the `mapper` command for the page: each one a child process in its own process group
(so cancelling it ends everything it started), several at once up to a limit and the rest queued,
their stderr read for `--progress json` lines and the log, their stdout for the files they wrote."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the child imports the same mapper as the server
GRACE_S = 5.0  # a cancelled run gets this long to clean up its partial files after SIGTERM
DOWNLOADABLE = (".osu", ".osz")
LOG_LINES_KEPT = 2000


@dataclass
class Run:
    id: str
    kind: str  # generate, timing, mod or eval
    args: list[str]  # what follows `mapper`
    audio: Path | None = None  # the song, for the page's player and preview
    reference: Path | None = None
    status: str = "queued"  # queued, running, done, failed, cancelled
    returncode: int | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    first_progress_s: float | None = None  # seconds from the start to the first progress line
    ended: float | None = None
    progress: dict[str, dict] = field(default_factory=dict)  # by pass: the last progress record
    outputs: list[Path] = field(default_factory=list)  # every path the command printed
    events: list[dict] = field(default_factory=list)  # everything the page is told, in order
    process: subprocess.Popen | None = None
    cancel_asked: bool = False
    log_lines: int = 0

    @property
    def command_line(self) -> str:
        return shlex.join(["mapper", *self.args])

    @property
    def files(self) -> list[Path]:
        """The beatmaps this run wrote, the only files it offers for download."""
        return [p for p in self.outputs if p.suffix.lower() in DOWNLOADABLE and p.is_file()]

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    def summary(self) -> dict:
        folder = str(self.files[0].parent) if self.files else None
        return {"id": self.id, "kind": self.kind, "command": self.command_line, "status": self.status,
                "returncode": self.returncode, "progress": self.progress, "first_progress_s": self.first_progress_s,
                "files": [{"index": i, "name": p.name} for i, p in enumerate(self.files)] if self.finished else [],
                "folder": folder, "has_audio": self.audio is not None, "has_reference": self.reference is not None}


class RunManager:
    def __init__(self, max_running: int = 1, env: dict | None = None, cwd: Path | None = None):
        self.max_running = max(1, max_running)
        self.runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._env = env
        self._cwd = cwd

    def submit(self, kind: str, args: list[str], audio: Path | None = None, reference: Path | None = None) -> Run:
        run = Run(id=secrets.token_hex(6), kind=kind, args=list(args), audio=audio, reference=reference)
        with self._lock:
            self.runs[run.id] = run
            self._event(run, {"type": "status", "status": "queued"})
        self._start_queued()
        return run

    def cancel(self, run: Run) -> None:
        with self._lock:
            run.cancel_asked = True
            if run.status == "queued":
                run.status = "cancelled"
                self._event(run, {"type": "status", "status": "cancelled"})
                return
            process = run.process
        if process is not None and process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            threading.Thread(target=self._kill_later, args=(process,), daemon=True).start()

    def shutdown(self) -> None:
        """Cancel every run and wait until no child is left (the server is stopping)."""
        for run in list(self.runs.values()):
            self.cancel(run)
        for run in list(self.runs.values()):
            if run.process is not None:
                try:
                    run.process.wait(GRACE_S + 1)
                except subprocess.TimeoutExpired:
                    _signal_group(run.process.pid, signal.SIGKILL)
                    run.process.wait()
                _signal_group(run.process.pid, signal.SIGKILL)  # anything the command itself left behind

    def _kill_later(self, process: subprocess.Popen) -> None:
        try:
            process.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(process.pid, signal.SIGKILL)

    def _start_queued(self) -> None:
        with self._lock:
            running = sum(r.status == "running" for r in self.runs.values())
            for run in self.runs.values():
                if running >= self.max_running:
                    break
                if run.status == "queued":
                    self._launch(run)
                    running += 1

    def _launch(self, run: Run) -> None:
        """Start the child (under the lock); two reader threads and a waiter follow it."""
        env = dict(os.environ if self._env is None else self._env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("NO_COLOR", "1")
        try:
            run.process = subprocess.Popen([sys.executable, "-m", "mapperator_cli", *run.args],
                                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True, bufsize=1, env=env,
                                           cwd=self._cwd, start_new_session=True)  # its own process group
        except OSError as exc:
            run.status, run.ended = "failed", time.time()
            self._event(run, {"type": "log", "stream": "stderr", "line": f"mapper web: could not start: {exc}"})
            self._event(run, {"type": "status", "status": "failed"})
            return
        run.status, run.started = "running", time.time()
        self._event(run, {"type": "status", "status": "running", "command": run.command_line})
        readers = [threading.Thread(target=self._read, args=(run, run.process.stdout, "stdout"), daemon=True),
                   threading.Thread(target=self._read, args=(run, run.process.stderr, "stderr"), daemon=True)]
        for reader in readers:
            reader.start()
        threading.Thread(target=self._wait, args=(run, readers), daemon=True).start()

    def _read(self, run: Run, stream, name: str) -> None:
        for raw in stream:
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            with self._lock:
                record = _progress_record(line) if name == "stderr" else None
                if record is not None:
                    if run.first_progress_s is None:
                        run.first_progress_s = round(time.time() - run.started, 3)
                    run.progress[record["pass"]] = record
                    self._event(run, {"type": "progress", **record})
                    continue
                if name == "stdout" and _looks_like_path(line):
                    run.outputs.append((self._cwd or Path.cwd()) / line.strip())  # absolute paths stay as they are
                self._event(run, {"type": "log", "stream": name, "line": line})

    def _wait(self, run: Run, readers: list[threading.Thread]) -> None:
        code = run.process.wait()
        for reader in readers:
            reader.join()
        if run.cancel_asked:
            _signal_group(run.process.pid, signal.SIGKILL)  # grandchildren that outlived the command
        with self._lock:
            run.returncode, run.ended = code, time.time()
            run.status = "cancelled" if run.cancel_asked else ("done" if code == 0 else "failed")
            self._event(run, {"type": "status", "status": run.status, "returncode": code,
                              "summary": run.summary()})
        self._start_queued()

    def _event(self, run: Run, event: dict) -> None:
        if event["type"] == "log":
            run.log_lines += 1
            if run.log_lines > LOG_LINES_KEPT:  # a runaway log: the page keeps the first lines only
                if run.log_lines == LOG_LINES_KEPT + 1:
                    event = {"type": "log", "stream": "stderr", "line": "mapper web: (further log lines left out)"}
                else:
                    return
        event["seq"] = len(run.events)
        run.events.append(event)


def _progress_record(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and {"pass", "done", "total"} <= record.keys() else None


def _looks_like_path(line: str) -> bool:
    text = line.strip()
    return os.path.isabs(text) or text.startswith(("./", "../")) or Path(text).suffix.lower() in DOWNLOADABLE


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the child leads its own group (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pid: int) -> bool:
    """Whether any process of the group `pid` leads is still there."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
