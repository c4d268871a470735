"""Tempo changes (models.timing.tempo_segments) only where the song changes: a constant-tempo recording,
and a constant-tempo track with a break, a loose (rubato) stretch and a sixteenth hi-hat run, keep one red
line; `mapper timing` on the README's real clip gives one red line at its 170 BPM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

RATE = 16_000
CLIP = Path(__file__).parent / "data" / "chaos_god" / "chaos_god_clip.ogg"
GAIN_E = 4.0  # the hi-hat a sixteenth after the beat, against a kick of 1


def _hit(rng: np.random.Generator, pitch_hz: float, decay_s: float, noise: float) -> np.ndarray:
    t = np.arange(int(0.1 * RATE)) / RATE
    return (np.sin(2 * np.pi * pitch_hz * t) + noise * rng.standard_normal(len(t))) * np.exp(-t / decay_s)


def constant_tempo_with_break_and_rubato(bpm: float = 150.0, seed: int = 0) -> np.ndarray:
    """36 s of a kick on every beat at `bpm`: steady, then a 4 s break (a quiet held tone), 8 s played loosely
    (each kick up to 30 ms off), and 14 s with a hi-hat on every sixteenth, the one after the beat louder
    than the kick (a beat tracker can follow that stream for a while)."""
    rng = np.random.default_rng(seed)
    seconds = 36.0
    out = np.zeros(int((seconds + 1) * RATE))
    kick, hat = _hit(rng, 60.0, 0.03, 0.1), _hit(rng, 0.0, 0.008, 1.0)
    beat_ms = 60_000.0 / bpm

    def put(sound: np.ndarray, at_ms: float, gain: float = 1.0) -> None:
        index = int(round(at_ms * RATE / 1000))
        out[index:index + len(sound)] += gain * sound[:len(out) - index]

    for k in range(int((seconds - 0.5) * 1000 / beat_ms)):
        at = 300.0 + k * beat_ms
        if 8_000 <= at < 12_000:
            continue  # the break
        if 12_000 <= at < 20_000:  # rubato
            put(kick, at + rng.uniform(-30.0, 30.0))
            continue
        put(kick, at)
        if at >= 20_000:
            for sixteenth, gain in ((1, GAIN_E), (2, 0.4), (3, 0.4)):
                put(hat, at + sixteenth * beat_ms / 4, gain)
    t = np.arange(int(4.0 * RATE)) / RATE
    out[8 * RATE:12 * RATE] += 0.05 * np.sin(2 * np.pi * 220.0 * t)
    return (out / np.abs(out).max()).astype(np.float32)


def test_constant_tempo_with_a_break_rubato_and_hi_hats_keeps_one_red_line():
    from models.timing.audio_timing import analyse_timing

    timing = analyse_timing(constant_tempo_with_break_and_rubato(), RATE)
    # one red line at the tempo or its double (the off-beat kicks and hi-hats make both fair levels)
    assert len(timing.red_lines) == 1 and round(timing.red_lines[0].bpm, 3) in (150.0, 300.0), timing.red_lines


def test_a_short_clip_cannot_split():
    from models.timing.audio_timing import analyse_timing

    samples = constant_tempo_with_break_and_rubato()[int(10 * RATE):int(22 * RATE)]  # the break and the rubato
    timing = analyse_timing(samples, RATE)
    assert len(timing.red_lines) == 1


def test_cli_timing_of_the_real_clip_is_one_red_line_at_170_bpm(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "timing", str(CLIP), "--json", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [point["bpm"] for point in report["timing_points"]] == [170.0], report["timing_points"]
