"""`mapper timing` end to end with the reference tiny v29 checkpoint (random weights)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import require_shared
from tokenization import read_beatmap


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mapperator_cli", "timing", *args], capture_output=True, text=True,
                          timeout=600)


def test_timing_writes_a_valid_osu(tmp_path):
    model = require_shared("fixtures", "ref-v29-tiny")
    audio = require_shared("fixtures", "audio", "click120.wav")
    proc = run(str(audio), "--model", str(model), "--seed", "0", "--passes", "1", "--out", str(tmp_path), "--json",
               "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    beatmap = read_beatmap(report["path"])
    assert beatmap.general.audio_filename == "click120.wav" and "ai-generated" in beatmap.metadata.tags
    assert report["passes"] == 1 and isinstance(report["timing_points"], list)
    assert not beatmap.hit_objects


def test_timing_into_a_copy_of_a_beatmap(tmp_path):
    model = require_shared("fixtures", "ref-v29-tiny")
    audio = require_shared("fixtures", "audio", "click120.wav")
    source = require_shared("fixtures", "audio", "click120_timing.osu")
    reference = tmp_path / "ref.osu"
    reference.write_bytes(source.read_bytes())
    proc = run(str(audio), "--model", str(model), "--beatmap", str(reference), "--passes", "1", "--quiet")
    assert proc.returncode == 0, proc.stderr
    written = proc.stdout.strip().splitlines()[-1]
    assert written != str(reference) and reference.read_bytes() == source.read_bytes()
    assert "(mapper timing)" in read_beatmap(written).metadata.version


def test_timing_bad_input(tmp_path):
    proc = run(str(tmp_path / "nope.wav"), "--model", "x")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    proc = run(str(tmp_path), "--model", "x", "--passes", "0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_batched_passes_equal_one_window_at_a_time():
    """Windows of all passes decode together; batching must not change a single token."""
    import torch

    from models.audio.loading import load_audio
    from models.generation.timing_passes import run_timing_passes
    from models.loading import load_model
    from profiles import load_profile
    from tokenization.prompt import Conditioning
    from tokenization.vocabulary import Vocabulary

    folder = require_shared("fixtures", "ref-v29-tiny")
    audio = load_audio(require_shared("fixtures", "audio", "click120.wav"))[:16000 * 6]
    model, vocab, profile = load_model(folder), Vocabulary.load(folder), load_profile("v29")
    conditioning = Conditioning(song_length_ms=6000)
    with torch.inference_mode():
        batched = run_timing_passes(model, vocab, profile, audio, conditioning, passes=3, batch_size=8, seed=1, max_tokens=24)
        single = run_timing_passes(model, vocab, profile, audio, conditioning, passes=3, batch_size=1, seed=1, max_tokens=24)
    assert batched.tokens == single.tokens and batched.markers == single.markers
    assert batched.tokens > 0
