"""Audio timing (models.timing.audio_timing) and rhythm candidates, through the public API and `mapper timing`:
synthetic drum tracks whose BPM and offset are known, a tempo change, determinism, and corpus songs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import require_shared

RATE = 16_000


def drum_track(sections: list[tuple[float, float, float]], off_beat: float = 0.0, seed: int = 0) -> np.ndarray:
    """(start ms, BPM, seconds) sections: a low kick with a hi-hat on each beat, and a kick `off_beat` as
    loud on each off-beat."""
    rng = np.random.default_rng(seed)
    end_s = max(start / 1000 + seconds for start, _, seconds in sections) + 1.0
    out = np.zeros(int(end_s * RATE))
    hit = np.arange(int(0.08 * RATE)) / RATE
    kick = np.sin(2 * np.pi * 60 * hit) * np.exp(-hit / 0.03)
    hat = rng.standard_normal(len(hit)) * np.exp(-hit / 0.01) * 0.3
    for start, bpm, seconds in sections:
        beat = 60_000.0 / bpm
        for k in range(int(seconds * 1000 / beat)):
            for sound, at in ((kick + hat, start + k * beat), (kick * off_beat, start + (k + 0.5) * beat)):
                index = int(round(at * RATE / 1000))
                out[index:index + len(sound)] += sound[:len(out) - index]
    return (out / np.abs(out).max()).astype(np.float32)


def offset_error(found_ms: float, true_ms: float, beat_ms: float) -> float:
    return (found_ms - true_ms + beat_ms / 2) % beat_ms - beat_ms / 2


def test_constant_tempo_bpm_exact_and_offset_follows_the_audio():
    from models.timing.audio_timing import ATTACK_LATENCY_MS, analyse_timing

    first = analyse_timing(drum_track([(300.0, 150.0, 40.0)]), RATE)
    shifted = analyse_timing(drum_track([(337.0, 150.0, 40.0)]), RATE)
    assert first.bpm == pytest.approx(150.0, abs=1e-9) and shifted.bpm == pytest.approx(150.0, abs=1e-9)
    assert len(first.red_lines) == 1 and first.candidates[0].score == 1.0
    # the offset moves with the audio to the millisecond; in absolute terms it is the kick's attack less the
    # latency calibrated on real maps (mappers put the beat that much before the attack as heard)
    assert offset_error(shifted.offset_ms - 37.0, first.offset_ms, 400.0) == pytest.approx(0.0, abs=1.5)
    assert abs(offset_error(first.offset_ms + ATTACK_LATENCY_MS, 300.0, 400.0)) <= 4.0


@pytest.mark.parametrize("bpm", [400.0, 460.0])
def test_an_even_stream_faster_than_the_search_keeps_its_tempo(bpm):
    """Identical hits every beat at a tempo past the candidates' range (speedcore): the level found first is
    half of it, with off-beats as strong as beats, so the beat is doubled back; an off-beat at 0.3 is not."""
    from models.timing.audio_timing import analyse_timing

    assert analyse_timing(drum_track([(300.0, bpm, 24.0)]), RATE).bpm == pytest.approx(bpm)
    assert analyse_timing(drum_track([(300.0, bpm / 2, 24.0)], off_beat=0.3), RATE).bpm == pytest.approx(bpm / 2)


@pytest.mark.parametrize("first_beats", [30, 60, 90])  # the change a quarter, half or three quarters in
def test_tempo_change_gets_its_own_red_line(first_beats):
    from models.timing.audio_timing import ATTACK_LATENCY_MS, analyse_timing

    change_ms = 500.0 + first_beats * 400.0
    samples = drum_track([(500.0, 150.0, first_beats * 0.4), (change_ms, 180.0, 48.0 - first_beats * 0.4)])
    timing = analyse_timing(samples, RATE)
    bpms = [round(line.bpm, 3) for line in timing.red_lines]
    assert 150.0 in bpms and 180.0 in bpms, bpms
    change = next(line for line in timing.red_lines if round(line.bpm, 3) == 180.0)
    # it starts within a beat of the change, on the new grid
    assert abs(change.offset - change_ms) <= 340.0
    assert abs(offset_error(change.offset + ATTACK_LATENCY_MS, change_ms, change.ms_per_beat)) <= 4.0


def test_deterministic_and_silence_has_no_timing():
    from models.timing.audio_timing import analyse_timing

    samples = drum_track([(250.0, 172.0, 20.0)])
    one, two = analyse_timing(samples, RATE), analyse_timing(samples.copy(), RATE)
    assert (one.red_lines, one.bpm, one.offset_ms, one.candidates) == (two.red_lines, two.bpm, two.offset_ms,
                                                                       two.candidates)
    assert np.array_equal(one.onsets.times_ms, two.onsets.times_ms)
    assert analyse_timing(np.zeros(RATE * 5, dtype=np.float32), RATE) is None


def test_rhythm_candidates_snap_to_the_grid_with_divisors():
    from models.timing.audio_timing import analyse_timing
    from models.timing.rhythm_candidates import rhythm_candidates, written_red_lines

    samples = drum_track([(300.0, 150.0, 30.0)], off_beat=0.3)
    timing = analyse_timing(samples, RATE)
    assert timing.bpm == pytest.approx(150.0)
    candidates = rhythm_candidates(samples, RATE, timing)
    line = written_red_lines(timing.red_lines)[0]  # the grid as written: a whole-ms offset
    assert len(candidates) >= 100
    beats = [c for c in candidates if c.divisor == 1]
    halves = [c for c in candidates if c.divisor == 2]
    assert len(beats) >= 70 and len(halves) >= 70
    for c in candidates:  # on that grid, cast to whole ms as the editor stores a snapped object
        step = line.ms_per_beat / c.divisor
        exact = line.offset + round((c.time_ms - line.offset) / step) * step
        assert c.time_ms == math.floor(exact + 1e-6)
    assert np.median([c.strength for c in beats]) > np.median([c.strength for c in halves])  # louder on the beat


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mapperator_cli", "timing", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_audio_method(tmp_path):
    import soundfile

    from tokenization import read_beatmap

    song = tmp_path / "drums.wav"
    soundfile.write(song, drum_track([(300.0, 150.0, 30.0)]), RATE)
    proc = run_cli(str(song), "--method", "audio", "--json", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["method"] == "audio" and report["bpm"] == 150.0 and report["tempo_candidates"]
    written = read_beatmap(report["path"])
    assert [round(60_000 / tp.beat_length, 6) for tp in written.timing_points] == [150.0]
    assert "ai-generated" in written.metadata.tags and not written.hit_objects
    # with no --model the bundled starter would be used: the audio method is the default then
    default = run_cli(str(song), "--json", "--out", str(tmp_path))
    assert default.returncode == 0 and json.loads(default.stdout)["method"] == "audio"


def test_cli_bad_method(tmp_path):
    song = tmp_path / "x.wav"
    song.write_bytes(b"")
    proc = run_cli(str(song), "--method", "guess")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--method" in proc.stderr


@pytest.mark.parametrize("folder, bpm", [("ppy+osu-resources/christmas2024/audio.mp3", 172.0),
                                         ("hndada+gosu/cYsmix - triangles/audio.mp3", 160.0),
                                         ("ppy+osu-resources/welcome/welcome.ogg", 240.0)])  # mapped at 120: x2
def test_corpus_songs_bpm_exact(folder, bpm):
    from models.audio.loading import load_audio
    from models.timing.audio_timing import analyse_timing

    audio = require_shared("corpus", *folder.split("/"))
    timing = analyse_timing(load_audio(audio), RATE)
    assert timing.bpm == pytest.approx(bpm, abs=1e-6)  # the whole BPM, not a near miss that drifts



def test_rhythm_candidate_strength_favours_strong_metrical_positions():
    from models.timing.audio_timing import analyse_timing
    from models.timing.rhythm_candidates import rhythm_candidates

    samples = drum_track([(300.0, 150.0, 30.0)], off_beat=0.3)
    timing = analyse_timing(samples, RATE)
    onsets = timing.onsets
    factor: dict[int, list[float]] = {}
    for c in rhythm_candidates(samples, RATE, timing):
        near = np.abs(onsets.times_ms - timing.flux_lag_ms - c.time_ms) <= 25.0
        if near.sum() == 1:  # the one onset this candidate came from: its strength before the weighting
            factor.setdefault(c.divisor, []).append(c.strength / float(onsets.strengths[near][0]))
    # maps put objects on the beat first, then on half beats: the strength says so beside the loudness
    assert 1 in factor and 2 in factor
    assert min(factor[1]) > max(factor[2])
