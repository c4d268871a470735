"""`mapper dataset build --workers N`: the serial build's result (rows, build state, skipped files,
files), also after a SIGKILL and a second run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from mapperator_cli.app import app
from tests.test_dataset_build import beatmap_text, make_sources, write_wav
from training import build_dataset, mmrs

ROOT = Path(__file__).resolve().parents[1]
EXTRA_FOLDERS = 10


def sources(root: Path) -> Path:
    """make_sources' .osz and folder, ten more song folders, a copy of one map in another folder (a
    duplicate: which copy is kept depends on the order) and a map whose audio is not a sound."""
    make_sources(root)
    for index in range(EXTRA_FOLDERS):
        folder = root / "songs" / f"song {index:02d}"
        folder.mkdir(parents=True)
        write_wav(folder / "audio.wav", 1.0 + index / 10)
        for difficulty in range(2):
            (folder / f"[{difficulty}].osu").write_text(beatmap_text(
                version=f"D{difficulty}", beatmap_id=5000 + 10 * index + difficulty, set_id=500 + index,
                audio="audio.wav", title=f"Song {index}", notes=16 + 8 * difficulty))
    copy = root / "songs" / "zz copy"
    copy.mkdir()
    write_wav(copy / "audio.wav", 1.0)
    (copy / "copy.osu").write_text((root / "songs" / "song 00" / "[0].osu").read_text())
    broken = root / "songs" / "broken"
    broken.mkdir()
    (broken / "audio.wav").write_bytes(b"not a sound")
    (broken / "b.osu").write_text(beatmap_text(version="B", beatmap_id=9001, set_id=900, audio="audio.wav"))
    return root


def snapshot(out: Path) -> dict:
    table = pq.read_table(out / mmrs.METADATA_FILE)
    files = {str(p.relative_to(out)): hashlib.sha1(p.read_bytes()).hexdigest()
             for p in sorted((out / mmrs.DATA_DIR).rglob("*")) if p.is_file()}
    return {"rows": table.to_pylist(), "state": mmrs.read_build_state(table), "files": files}


def _build_command(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "mapperator_cli", "dataset", "build", str(src), "--out", str(out),
            "--workers", "2", "--json", "-q"]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        try:
            children = {int(c) for c in Path(f"/proc/{todo.pop()}/task").glob("*/children")
                        for c in c.read_text().split()}
        except OSError:
            continue
        todo += sorted(children - found)
        found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_parallel_build_is_the_serial_build(tmp_path):
    src = sources(tmp_path / "src")
    serial = build_dataset([src], tmp_path / "serial")
    assert serial.total_beatmaps == 3 + 2 * EXTRA_FOLDERS and len(serial.skipped) == 2
    result = CliRunner().invoke(app, ["dataset", "build", str(src), "--out", str(tmp_path / "parallel"),
                                      "--workers", "2", "--json", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["skipped"] == [{"path": s.path, "reason": s.reason} for s in serial.skipped]
    assert snapshot(tmp_path / "parallel") == snapshot(tmp_path / "serial")
    assert not (tmp_path / "parallel" / ".building").exists()
    again = CliRunner().invoke(app, ["dataset", "build", str(src), "--out", str(tmp_path / "parallel"),
                                     "--workers", "2", "--json", "-q"])
    assert json.loads(again.output)["sources_already_built"] == report["sources"]  # nothing is read twice


def test_a_killed_parallel_build_finishes_as_the_serial_build(tmp_path):
    src = sources(tmp_path / "src")
    build_dataset([src], tmp_path / "serial")
    out = tmp_path / "killed"
    proc = subprocess.Popen(_build_command(src, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=_env())
    deadline, workers = time.time() + 120, set()
    while time.time() < deadline and proc.poll() is None:
        workers |= _descendants(proc.pid)
        placed = list((out / mmrs.DATA_DIR).iterdir()) if (out / mmrs.DATA_DIR).is_dir() else []
        if len(placed) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the build ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(workers) >= 2
    deadline = time.time() + 15  # orphaned workers notice and stop
    while any(_alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
    done = subprocess.run(_build_command(src, out), capture_output=True, text=True, timeout=300, env=_env())
    assert done.returncode == 0, done.stderr
    assert snapshot(out) == snapshot(tmp_path / "serial")
    assert not (out / ".building").exists() and not (out / ".build.lock").exists()
