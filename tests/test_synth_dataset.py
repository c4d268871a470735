"""`mapper dataset synth`: a tiny synthetic dataset is a valid MMRS dataset whose maps sit on the score's
note onsets and on its red lines, and whose audio has its attacks where the objects are."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from typer.testing import CliRunner

from mapperator_cli.app import app

MISSING = [name for name in ("music21", "pretty_midi", "tinysoundfont") if importlib.util.find_spec(name) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"dataset synth needs {', '.join(MISSING)} (make install)")

runner = CliRunner()
SEED = 1  # one chorale (several parts: Melody maps) and two fiddle tunes (one part: Beats maps)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    # Fiddle tunes and chorales: single scores that parse in well under a second.
    result = runner.invoke(app, ["dataset", "synth", "--out", str(out), "--songs", "3", "--seed", str(SEED),
                                 "--seconds", "5", "--source", "ryansMammoth", "--source", "bach", "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def _maps(root):
    from tokenization import read_beatmap
    from training import mmrs

    frame = mmrs.read_metadata(root)
    return [(row, read_beatmap(mmrs.beatmap_path(root, row))) for _, row in frame.iterrows()]


def _score_onsets(piece: str) -> list[Fraction]:
    """Distinct note onsets in quarter notes, read from the score with music21 directly."""
    from music21 import corpus

    score = corpus.parse(piece).stripTies()
    found = set()
    for part in score.parts:
        for element in part.flatten().notes:
            if not element.duration.isGrace and element.quarterLength > 0:
                found.add(Fraction(element.offset).limit_denominator(192))
    return sorted(found)


def test_dataset_is_valid_and_marked_synthetic(dataset):
    check = runner.invoke(app, ["dataset", "check", str(dataset), "--quiet"])
    assert check.exit_code == 0, check.output
    recipe = json.loads((dataset / "synth.json").read_text())
    assert recipe["recipe"]["seed"] == SEED and len(recipe["songs"]) == 3
    maps = _maps(dataset)
    assert len(maps) == 24
    assert sorted({int(beatmap.mode) for _, beatmap in maps}) == [0, 1, 2, 3]
    for row, beatmap in maps:
        assert {"synthetic", "ai-free"} <= set(beatmap.metadata.tags), row["BeatmapFile"]
        assert beatmap.hit_objects and beatmap.timing_points
    # The easier map of each mode holds a subset of the Full map's onsets: the top part's or those on a beat.
    from training.synth_score import RedLine, snap_error

    times = {(b.metadata.title, b.metadata.version): [o.time for o in b.hit_objects] for _, b in maps}
    easier = [(title, version) for title, version in times if not version.endswith("Full")]
    assert len(easier) == 12
    assert {version.split()[1] for _, version in easier} == {"Melody", "Beats"}
    for title, version in easier:
        mode = version.split()[0]
        full = times[(title, f"{mode} Full")]
        if mode != "Mania":  # mania may drop a note whose columns are all held
            assert set(times[(title, version)]) <= set(full) and len(times[(title, version)]) <= len(full)
        if version.endswith("Beats"):
            red = [RedLine(tp.time, tp.beat_length, tp.meter) for tp in next(
                b for _, b in maps if b.metadata.title == title).timing_points]
            assert all(snap_error(t, red, divisor=1) < 1.0 for t in times[(title, version)])
    assert sum(len(times[k]) for k in easier) < sum(len(v) for k, v in times.items() if k[1].endswith("Full"))


def test_objects_match_score_onsets_and_red_lines(dataset):
    from training.synth_score import RedLine, snap_error

    recipe = json.loads((dataset / "synth.json").read_text())
    songs = {song["title"]: song for song in recipe["songs"]}
    checked = 0
    for _, beatmap in _maps(dataset):
        song = songs[beatmap.metadata.title]
        red = [RedLine(*line) for line in song["red_lines"]]
        assert [(tp.time, tp.beat_length, tp.meter) for tp in beatmap.timing_points] == \
            [(line.time, line.beat_length, line.meter) for line in red]
        for obj in beatmap.hit_objects:  # every object sits on its red line's grid
            assert snap_error(obj.time, red) < 1.0, (beatmap.metadata.version, obj.time)
        if not beatmap.metadata.version.endswith("Full") or beatmap.metadata.version.startswith("Mania"):
            continue
        # Every onset of the score, in order, at the song's tempo: within 1 ms once the lead-in is known.
        first_tempo_ends = song["tempo"][1][0] if len(song["tempo"]) > 1 else float("inf")
        times = [obj.time for obj in beatmap.hit_objects if obj.time < first_tempo_ends - 1]
        onsets = _score_onsets(song["piece"])[:len(times)]
        per_quarter = song["tempo"][0][1]
        predicted = np.array([float(q - onsets[0]) * per_quarter for q in onsets])
        offset = np.mean(np.array(times) - predicted)
        assert np.max(np.abs(np.array(times) - predicted - offset)) < 1.0, beatmap.metadata.version
        checked += 1
    assert checked == 9


def _onset_strength(audio: np.ndarray, rate: int, hop_ms: float = 5.0) -> np.ndarray:
    """Spectral flux (positive log-magnitude change) per hop above its 200 ms running median: peaks
    where notes start, near zero in steady tone and noise."""
    from scipy.ndimage import median_filter

    hop, size = int(rate * hop_ms / 1000), 512
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(audio, (size // 2, size)), size)[::hop]
    magnitude = np.log1p(100 * np.abs(np.fft.rfft(frames * np.hanning(size), axis=1)))
    flux = np.concatenate([[0.0], np.maximum(np.diff(magnitude, axis=0), 0).sum(axis=1)])
    return np.maximum(flux - median_filter(flux, 41), 0.0)


def test_audio_attacks_line_up_with_objects(dataset):
    from models.audio.loading import SAMPLE_RATE_HZ, load_audio
    from training import mmrs

    checked = 0
    for row, beatmap in _maps(dataset):
        if beatmap.metadata.version != "Taiko Full":
            continue
        checked += 1
        flux = _onset_strength(load_audio(mmrs.audio_path(dataset, row)), SAMPLE_RATE_HZ)
        hops = np.array([obj.time for obj in beatmap.hit_objects]) / 5.0
        # The shift (in 5 ms hops) that puts most onset strength under the objects is (almost) none: the
        # 32 ms analysis window sees an attack a hop or two early.
        scores = {lag: flux[np.clip(np.round(hops + lag).astype(int), 0, len(flux) - 1)].mean()
                  for lag in range(-20, 21)}
        best = max(scores, key=scores.get)
        assert abs(best) <= 2, (beatmap.metadata.title, best)
        # and the attacks stand out: far more flux at objects than half way between them.
        between = (hops[1:] + hops[:-1]) / 2
        assert scores[0] > 5 * flux[np.round(between).astype(int)].mean(), beatmap.metadata.title
    assert checked == 3


def test_same_seed_same_dataset_and_bad_input(dataset, tmp_path):
    import soundfile

    from training import mmrs

    again = tmp_path / "again"
    result = runner.invoke(app, ["dataset", "synth", "--out", str(again), "--songs", "3", "--seed", str(SEED),
                                 "--seconds", "5", "--source", "ryansMammoth", "--source", "bach", "--quiet"])
    assert result.exit_code == 0, result.output
    first, second = json.loads((dataset / "synth.json").read_text()), json.loads((again / "synth.json").read_text())
    assert first == second
    checksums = [sorted(row["Checksum"] for row, _ in _maps(root)) for root in (dataset, again)]
    assert checksums[0] == checksums[1]
    # The same samples (the Ogg container's stream serial number is random, so not the same bytes).
    for (row, _), (row_again, _) in zip(_maps(dataset), _maps(again)):
        first_audio, _ = soundfile.read(mmrs.audio_path(dataset, row))
        assert np.array_equal(first_audio, soundfile.read(mmrs.audio_path(again, row_again))[0])


@pytest.mark.parametrize("args,needle", [
    (["--songs", "0"], "--songs 0"),
    (["--songs", "1", "--source", "beatles"], "--source beatles"),
    (["--songs", "1", "--seconds", "1"], "--seconds 1"),
])
def test_bad_recipe_is_one_line(tmp_path, args, needle):
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "dataset", "synth", "--out", str(tmp_path / "d"),
                           *args], capture_output=True, text=True)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr
    assert not (tmp_path / "d").exists()


def test_refuses_a_dataset_of_another_recipe(dataset):
    result = runner.invoke(app, ["dataset", "synth", "--out", str(dataset), "--songs", "3", "--seed", "4",
                                 "--quiet"])
    assert result.exit_code != 0 and "another recipe" in str(result.exception)


@pytest.mark.slow
def test_starter_profile_trains_on_the_synthetic_dataset(dataset, tmp_path):
    """The starter shape (5-20 M parameters, all four modes) takes a few steps on a synthetic dataset and
    leaves a model folder `generate` takes."""
    from pathlib import Path

    from profiles import load_profile

    starter = Path(__file__).resolve().parents[1] / "profiles" / "starter.yaml"
    profile = load_profile(starter)
    assert tuple(profile.tokenizer.gamemodes) == (0, 1, 2, 3)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--profile", str(starter), "--data", str(dataset), "--out", str(run),
                                 "--max-steps", "2", "--batch-size", "2", "--precision", "no", "--cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "loss" in m][:2] == [1, 2]
    from safetensors import safe_open

    with safe_open(str(run / "model.safetensors"), "pt") as weights:
        parameters = sum(int(np.prod(weights.get_slice(name).get_shape())) for name in weights.keys())
    assert 5e6 <= parameters <= 20e6, parameters
