"""`mapper generate` end to end with the reference tiny v29 checkpoint (random weights)."""

from __future__ import annotations

import subprocess
import sys

import rosu_pp_py as rosu

from tests.conftest import require_shared
from tokenization import read_beatmap


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mapperator_cli", "generate", *args], capture_output=True, text=True,
                          timeout=600)


def test_generate_writes_a_readable_beatmap(tmp_path):
    model = require_shared("fixtures", "ref-v29-tiny")
    audio = require_shared("fixtures", "audio", "click120.wav")
    timing = require_shared("fixtures", "audio", "click120_timing.osu")
    for extra in ([], ["--beatmap", str(timing), "--in-context", "timing"]):
        out = tmp_path / ("plain" if not extra else "timed")
        proc = run(str(audio), "--model", str(model), "--seed", "0", "--out", str(out), "--quiet", *extra)
        assert proc.returncode == 0, proc.stderr
        written = [line for line in proc.stdout.splitlines() if line.strip()]
        assert len(written) == 1 and written[0].endswith(".osu")
        beatmap = read_beatmap(written[0])
        assert "ai-generated" in beatmap.metadata.tags and "AI" in beatmap.metadata.creator
        assert beatmap.general.audio_filename == "click120.wav"
        rosu.Difficulty().calculate(rosu.Beatmap(path=written[0]))  # rosu-pp reads it
        if extra:  # the reference's timing is kept
            red = [tp for tp in beatmap.timing_points if tp.uninherited]
            assert red and red[0].time == 250 and red[0].beat_length == 500
    # same seed, same map; nothing is overwritten: a second run gets a new name
    again = run(str(audio), "--model", str(model), "--seed", "0", "--out", str(tmp_path / "plain"), "--quiet")
    assert again.returncode == 0
    files = sorted((tmp_path / "plain").glob("*.osu"))
    assert len(files) == 2 and files[0].read_text() == files[1].read_text()


def test_generate_bad_input_is_one_line(tmp_path):
    model = require_shared("fixtures", "ref-v29-tiny")
    proc = run(str(tmp_path / "missing.mp3"), "--model", str(model))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not found" in proc.stderr
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\x00" * 100)
    proc = run(str(bad), "--model", str(model), "--quiet")
    assert proc.returncode == 2 and "cannot decode audio" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(str(bad), "--model", str(tmp_path / "no-model"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_generate_with_the_other_versions(tmp_path):
    audio = require_shared("fixtures", "audio", "click120.wav")
    for version in ("v30", "v31", "v32"):
        model = require_shared("fixtures", f"ref-{version}-tiny")
        proc = run(str(audio), "--model", str(model), "--seed", "0", "--out", str(tmp_path / version), "--quiet")
        assert proc.returncode == 0, proc.stderr
        beatmap = read_beatmap(proc.stdout.strip())
        assert beatmap.metadata.version.startswith(f"Mapperatorinator {version.upper()}")
