"""How long `mapper --help` takes, against a bare `python -c pass` baseline in the same run.

The target is under 0.3 s on the 2-core development machine; the original's entry point takes 11.6 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 7


def _time(cmd: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


if __name__ == "__main__":
    baseline = _time([sys.executable, "-c", "pass"])
    help_s = _time([sys.executable, "-m", "mapperator_cli", "--help"])
    print(f"python -c pass     {baseline * 1000:7.1f} ms (baseline)")
    print(f"mapper --help      {help_s * 1000:7.1f} ms  ({help_s / baseline:.1f}x baseline; original: 11600 ms,"
          f" {11.6 / help_s:.0f}x slower than ours)")
