"""Dataset build: `mapper dataset build --workers N` against the serial build, in the same run.

The sources are song folders (audio + .osu) of a synthetic dataset (`mapper dataset synth`: public-domain
scores rendered here; never the corpus), each built into a fresh dataset serially and with N workers,
alternately, `--repeats` times; each side keeps its fastest build (the least disturbed by other
processes on the machine). Both builds are checked to be identical (rows, build state, files).

    python bench/dataset_build.py [--songs 20] [--seconds 30] [--workers 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synth_songs(tmp: Path, songs: int, seconds: float) -> Path:
    """Song folders to build from: the set folders of a synthetic dataset."""
    from training import mmrs

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mapperator_cli", "dataset", "synth", "--out", str(tmp / "synth"),
                    "--songs", str(songs), "--seconds", str(seconds), "--seed", "0", "-q"], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    folders = sorted(p for p in (tmp / "synth" / mmrs.DATA_DIR).iterdir() if p.is_dir())
    maps = sum(len(list(f.glob("*.osu"))) for f in folders)
    print(f"sources: {len(folders)} synthetic song folders, {maps} maps (synthesized in "
          f"{time.perf_counter() - started:.0f} s)")
    return tmp / "synth" / mmrs.DATA_DIR


def timed_build(songs: Path, out: Path, workers: int) -> float:
    """Wall seconds of one `mapper dataset build`, process start included (as a user runs it)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mapperator_cli", "dataset", "build", str(songs), "--out", str(out),
                    "--workers", str(workers), "-q"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - started


def snapshot(out: Path) -> tuple:
    import pyarrow.parquet as pq

    from training import mmrs

    table = pq.read_table(out / mmrs.METADATA_FILE)
    files = {str(p.relative_to(out)): hashlib.sha1(p.read_bytes()).hexdigest()
             for p in sorted((out / mmrs.DATA_DIR).rglob("*")) if p.is_file()}
    return table.to_pylist(), mmrs.read_build_state(table), files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        songs = synth_songs(tmp, args.songs, args.seconds)
        serial, parallel = [], []
        for r in range(args.repeats):
            serial.append(timed_build(songs, tmp / f"serial-{r}", 0))
            parallel.append(timed_build(songs, tmp / f"workers-{r}", args.workers))
            print(f"  round {r + 1}: serial {serial[-1]:.1f} s, --workers {args.workers} {parallel[-1]:.1f} s",
                  flush=True)
        assert snapshot(tmp / "serial-0") == snapshot(tmp / "workers-0"), "the builds differ"
        print(f"best of {args.repeats}: serial {min(serial):.1f} s, --workers {args.workers} {min(parallel):.1f} s: "
              f"{min(serial) / min(parallel):.2f}x faster (identical datasets); load average "
              f"{os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
