"""Tempo changes (models.timing.tempo_segments) only where the song changes: a constant-tempo recording,
and a constant-tempo track with a break, a loose (rubato) stretch and a sixteenth hi-hat run, keep one red
line; `mapper timing` on the README's real clip gives one red line at its 170 BPM; real tempo changes, a
cut that moves the grid and the way back to the first tempo get red lines, phased as the main line is."""

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
    # one red line at the tempo or its double (the loud sixteenth hi-hats make 300 BPM a fair level too)
    assert len(timing.red_lines) == 1 and round(timing.red_lines[0].bpm, 3) in (150.0, 300.0), timing.red_lines


def test_a_short_clip_cannot_split():
    from models.timing.audio_timing import analyse_timing

    samples = constant_tempo_with_break_and_rubato()[int(10 * RATE):int(22 * RATE)]  # the break and the rubato
    timing = analyse_timing(samples, RATE)
    assert len(timing.red_lines) == 1


def test_cli_timing_of_the_real_clip_is_one_red_line_at_170_bpm(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "timing", str(CLIP), "--method", "audio", "--json",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [point["bpm"] for point in report["timing_points"]] == [170.0], report["timing_points"]


def tempo_change(change_beats: int, jitter_ms: float = 4.0, seed: int = 0) -> tuple[np.ndarray, float]:
    """48 s of kick, snare and off-beat hi-hat, played up to `jitter_ms` off: 150 BPM from 500 ms, then
    180 BPM from beat `change_beats` on. Returns the samples and the time of the change (ms)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(49 * RATE)
    kick, hat, snare = _hit(rng, 60.0, 0.03, 0.1), 0.1 * _hit(rng, 0.0, 0.01, 1.0), 0.6 * _hit(rng, 0.0, 0.05, 1.0)
    change_ms = 500.0 + change_beats * 400.0
    beats = [500.0 + k * 400.0 for k in range(change_beats)]
    beats += [change_ms + k * 60_000.0 / 180.0 for k in range(int((48_000.0 - change_ms) * 180.0 / 60_000.0))]
    for k, beat in enumerate(beats):
        beat_ms = 400.0 if beat < change_ms else 60_000.0 / 180.0
        for sound, at in ((kick + (snare if k % 2 else 0.0), beat), (hat, beat + beat_ms / 2)):
            index = int(round((at + rng.uniform(-jitter_ms, jitter_ms)) * RATE / 1000))
            out[index:index + len(sound)] += sound[:len(out) - index]
    out += 0.02 * rng.standard_normal(len(out))
    return (out / np.abs(out).max()).astype(np.float32), change_ms


def test_a_tempo_change_is_one_more_red_line_phased_like_the_main_one():
    from models.timing.audio_timing import analyse_timing

    for change_beats in (60, 90):  # the change halfway and three quarters in: the song ends at the new tempo
        samples, change_ms = tempo_change(change_beats, seed=change_beats)
        lines = analyse_timing(samples, RATE).red_lines
        assert [round(line.bpm, 3) for line in lines] == [150.0, 180.0], lines
        assert abs(lines[1].offset - change_ms) <= 60_000.0 / 180.0 + 30.0
        # both grids carry the same bias against the audio: the change is phased the way the main line is
        errors = [(line.offset - true + line.ms_per_beat / 2) % line.ms_per_beat - line.ms_per_beat / 2
                  for line, true in zip(lines, (500.0, change_ms))]
        assert abs(errors[1] - errors[0]) <= 3.0, errors


def test_stretches_take_their_phase_from_the_main_lines_estimator_where_it_is_given():
    from models.timing.audio_timing import analyse_timing
    from models.timing.tempo_segments import segment_red_lines

    samples, change_ms = tempo_change(60, seed=60)
    timing = analyse_timing(samples, RATE)
    asked = []

    def span_phase(beat_ms: float, start_ms: float, end_ms: float) -> float:
        asked.append((beat_ms, start_ms, end_ms))
        return (500.0 if beat_ms > 350.0 else change_ms) % beat_ms  # where the audio's beats are

    # how late this synthetic's onsets are heard against its beats: the latency a perfect estimator knows
    onsets = timing.onsets.times_ms
    beats = np.concatenate([500.0 + 400.0 * np.arange(60), change_ms + 60_000.0 / 180.0 * np.arange(60)])
    lags = onsets[:, None] - beats[None, :]
    latency_ms = float(np.median(lags[np.abs(lags) <= 30.0]))
    lines = segment_red_lines(timing.onsets, timing.red_lines[0], len(samples) / RATE * 1000.0, latency_ms,
                              span_phase)
    assert [round(line.bpm, 3) for line in lines] == [150.0, 180.0] and asked
    for line, true in zip(lines, (500.0, change_ms)):
        assert abs((line.offset - true + line.ms_per_beat / 2) % line.ms_per_beat - line.ms_per_beat / 2) <= 0.5


def sections_track(sections: list[tuple[float, float, float]], seed: int = 0) -> np.ndarray:
    """(start ms, BPM, seconds) sections of kick and snare on the beats, a quiet hi-hat on the off-beats."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int((max(start / 1000 + seconds for start, _, seconds in sections) + 1) * RATE))
    kick, hat, snare = _hit(rng, 60.0, 0.03, 0.1), 0.1 * _hit(rng, 0.0, 0.01, 1.0), 0.6 * _hit(rng, 0.0, 0.05, 1.0)
    for start, bpm, seconds in sections:
        beat_ms = 60_000.0 / bpm
        for k in range(int(seconds * 1000 / beat_ms)):
            for sound, at in ((kick + (snare if k % 2 else 0.0), start + k * beat_ms), (hat, start + (k + 0.5) * beat_ms)):
                index = int(round((at + rng.uniform(-2.0, 2.0)) * RATE / 1000))
                out[index:index + len(sound)] += sound[:len(out) - index]
    out += 0.02 * rng.standard_normal(len(out))
    return (out / np.abs(out).max()).astype(np.float32)


def test_a_cut_that_moves_the_grid_for_good_is_a_phase_reset_and_a_few_rushed_bars_are_not():
    from models.timing.audio_timing import analyse_timing

    # at 20.4 s the grid moves a third of a beat later (an edit's cut) and stays there
    cut = analyse_timing(sections_track([(400.0, 150.0, 20.0), (20_533.0, 150.0, 30.0)]), RATE).red_lines
    assert [round(line.bpm, 3) for line in cut] == [150.0, 150.0], cut
    assert abs(cut[1].offset - 20_533.0) <= 400.0
    shift = (cut[1].offset - cut[0].offset + 200.0) % 400.0 - 200.0
    assert abs(shift - 133.0) <= 3.0, shift
    # six seconds played 30 ms early, then back on the grid: one red line
    rushed = sections_track([(400.0, 150.0, 20.0), (20_370.0, 150.0, 6.0), (26_400.0, 150.0, 24.0)])
    assert len(analyse_timing(rushed, RATE).red_lines) == 1


def test_a_tempo_change_and_back_returns_to_the_main_grid():
    from models.timing.audio_timing import analyse_timing

    lines = analyse_timing(sections_track([(400.0, 150.0, 20.0), (20_400.0, 180.0, 12.0),
                                           (32_400.0, 150.0, 20.0)]), RATE).red_lines
    assert [round(line.bpm, 3) for line in lines] == [150.0, 180.0, 150.0], lines
    assert abs(lines[2].offset - 32_400.0) <= 400.0
    assert abs((lines[2].offset - lines[0].offset + 200.0) % 400.0 - 200.0) <= 3.0  # the first grid's phase
