"""Bad files give one line on stderr and a non-zero exit through the real entry point, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

GOOD_HEADER = "osu file format v14\n[General]\nMode: 0\n[TimingPoints]\n0,500,4,2,0,100,1,0\n[HitObjects]\n"


def run_mapper(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mapperator_cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("name,content", [
    ("truncated.osu", GOOD_HEADER + "100,100,1000,2,0,B|200:2"),
    ("binary.osu", bytes(range(256)) * 20),
    ("nan.osu", GOOD_HEADER + "100,NaN,1000,1,0\n"),
    # an unreadable timing-point line is skipped, as osu! skips it; an unreadable object is not
    ("inf.osu", GOOD_HEADER + "inf,100,1000,1,0\n"),
    ("empty.osu", b""),
    ("corrupt.mp3", b"\xff\xfb\x90\x00" + bytes(range(256)) * 8),
    ("corrupt.wav", b"RIFF\x24\x00\x00\x00WAVEfmt "),
    ("notazip.osz", b"PK\x03\x04 broken"),
])
def test_bad_file_one_line_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    proc = run_mapper("info", str(path))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mapper: error:") and name in lines[0], proc.stderr


def test_huge_file(tmp_path):
    path = tmp_path / "huge.osu"
    with open(path, "wb") as handle:
        handle.write(GOOD_HEADER.encode())
        handle.truncate(70 * 1024 * 1024)  # sparse: 70 MiB without writing them
    proc = run_mapper("info", str(path))
    assert proc.returncode == 2 and "too large" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_missing_file(tmp_path):
    proc = run_mapper("info", str(tmp_path / "none.osu"))
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_info_on_a_good_map(tmp_path):
    path = tmp_path / "good.osu"
    path.write_text(GOOD_HEADER + "256,192,1000,1,0\n256,192,1500,1,0\n")
    proc = run_mapper("info", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"circle": 2' in proc.stdout and '"bpm": [\n    120.0\n  ]' in proc.stdout
