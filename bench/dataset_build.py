"""Dataset build: `mapper dataset build --workers N` against the serial build, in the same run.

The sources are song folders (audio + .osu) of a synthetic dataset (`mapper dataset synth`: public-domain
scores rendered here; never the corpus), each built into a fresh dataset serially and with N workers,
alternately, `--repeats` times; each side keeps its fastest build (the least disturbed by other
processes on the machine). Both builds are checked to be identical (rows, build state, files). Each
build is timed twice: the whole command (interpreter start included, as a user waits for it) and the
build itself (the report's `seconds`).

    python bench/dataset_build.py [--songs 20] [--seconds 30] [--workers 2] [--repeats 2] [--synth DIR]

`--synth DIR`: an existing `mapper dataset synth` output to take the song folders from (synthesizing
20 songs takes minutes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
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


def timed_build(songs: Path, out: Path, workers: int) -> tuple[float, float]:
    """(wall seconds of one `mapper dataset build`, process start included; the build's own seconds)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mapperator_cli", "dataset", "build", str(songs), "--out", str(out),
                           "--workers", str(workers), "--json", "-q"], check=True, cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - started, json.loads(done.stdout)["seconds"]


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
    parser.add_argument("--synth", type=Path, default=None)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.synth is not None:
            from training import mmrs

            songs = args.synth / mmrs.DATA_DIR
            print(f"sources: {len(list(songs.iterdir()))} song folders of {args.synth}")
        else:
            songs = synth_songs(tmp, args.songs, args.seconds)
        serial, parallel = [], []
        for r in range(args.repeats):
            serial.append(timed_build(songs, tmp / f"serial-{r}", 0))
            parallel.append(timed_build(songs, tmp / f"workers-{r}", args.workers))
            print(f"  round {r + 1}: serial {serial[-1][0]:.1f} s (build {serial[-1][1]:.1f} s), --workers "
                  f"{args.workers} {parallel[-1][0]:.1f} s (build {parallel[-1][1]:.1f} s)", flush=True)
        assert snapshot(tmp / "serial-0") == snapshot(tmp / "workers-0"), "the builds differ"
        for i, what in ((0, "command"), (1, "build itself")):
            one, many = min(t[i] for t in serial), min(t[i] for t in parallel)
            print(f"best of {args.repeats}, {what}: serial {one:.1f} s, --workers {args.workers} {many:.1f} s: "
                  f"{one / many:.2f}x faster")
        print(f"identical datasets; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
