"""Many `mapper` command lines in one child process, each through the CLI's own entry point
(`mapperator_cli.errors.run_guarded`, what `mapper` and `python -m mapperator_cli` run), so that a
dozen hostile inputs cost one interpreter start, not a dozen.

The child runs under a memory limit and a deadline: on code that reads /dev/zero or allocates
what a config asks for, a case must fail the test, not the machine. Usage from a test:

    results = run_cases([Case("name", ["generate", ...], cwd=...)], env=..., timeout_s=...)
    results["name"].code, .stderr, .seconds
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMORY_LIMIT_BYTES = 5 << 30  # torch, transformers and peft need ~4 GB of address space to import


@dataclass
class Case:
    name: str
    argv: list[str]
    cwd: str | None = None


@dataclass
class Result:
    code: int | None
    stdout: str
    stderr: str
    seconds: float
    started: float  # time.time() when the case began, to match events outside the child

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


CHILD = r"""
import contextlib, io, json, os, resource, sys, time
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from mapperator_cli.app import app
from mapperator_cli.errors import run_guarded
for line in sys.stdin:
    case = json.loads(line)
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    wall = time.time()
    started = time.perf_counter()
    try:
        if case["cwd"]:
            os.chdir(case["cwd"])
        sys.argv = ["mapper", *case["argv"]]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run_guarded(app)
    except BaseException as exc:
        code, err = None, io.StringIO(err.getvalue() + f"case escaped the CLI: {type(exc).__name__}: {exc}")
    finally:
        os.chdir(here)
    print(json.dumps({"name": case["name"], "code": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                      "seconds": time.perf_counter() - started, "started": wall}), flush=True)
"""


def run_cases(cases: list[Case], env: dict[str, str] | None = None, timeout_s: float = 120,
              memory_limit: int = MEMORY_LIMIT_BYTES) -> dict[str, Result]:
    """Each case's exit status, output and time; a child that runs past `timeout_s` fails the test
    naming the case it was on."""
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), child_env.get("PYTHONPATH")]))
    lines = "".join(json.dumps(asdict(case)) + "\n" for case in cases)
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(memory_limit)], input=lines, capture_output=True,
                              text=True, env=child_env, timeout=timeout_s, cwd=ROOT)
        stdout, stderr = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        done = [json.loads(line)["name"] for line in stdout.splitlines() if line.startswith("{")]
        stuck = next((case.name for case in cases if case.name not in done), "?")
        raise AssertionError(f"case {stuck!r} still running after {timeout_s} s (done: {done})") from None
    results = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            name = data.pop("name")
            results[name] = Result(**data)
    missing = [case.name for case in cases if case.name not in results]
    assert not missing, f"the child stopped before {missing}: {stderr[-2000:]}"
    return results
