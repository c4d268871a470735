"""`mapper generate --difficulty 2,5,...`: a mapset with one timing, decoded together, one file each."""

from __future__ import annotations

import json
import zipfile

import pytest
from typer.testing import CliRunner

from mapperator_cli.app import app
from tokenization import read_beatmap
from training.click_songs import trained_tiny

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_tiny(tmp_path_factory.mktemp("mapset"), steps=30)


def generate(song, model, out, *args) -> list[str]:
    result = runner.invoke(app, ["generate", str(song / "audio.wav"), "--model", str(model), "--out", str(out),
                                 "--device", "cpu", "--seed", "3", "-q", *args])
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if line.strip()]


def test_one_timing_one_file_per_difficulty_and_an_osz(trained, tmp_path):
    song, model = trained
    written = generate(song, model, tmp_path, "--difficulty", "2,5,7", "--export-osz")
    maps = [p for p in written if p.endswith(".osu")]
    assert [read_beatmap(p).metadata.version for p in maps] == ["2 stars (AI)", "5 stars (AI)", "7 stars (AI)"]
    beatmaps = [read_beatmap(p) for p in maps]
    reds = [[(tp.time, tp.beat_length) for tp in bm.timing_points if tp.uninherited] for bm in beatmaps]
    assert reds[0] and reds[0] == reds[1] == reds[2]  # one timing for the whole mapset
    assert [t for t in beatmaps[0].metadata.tags if t.startswith("target-stars-")] == ["target-stars-2"]
    folder = {p.rsplit("/", 1)[0] for p in maps}
    assert len(folder) == 1 and any(p.endswith("/audio.wav") for p in written)
    osz = next(p for p in written if p.endswith(".osz"))
    with zipfile.ZipFile(osz) as archive:
        assert sorted(archive.namelist()) == sorted([p.rsplit("/", 1)[1] for p in maps] + ["audio.wav"])
    # a second run never lands in the first one's folder
    again = generate(song, model, tmp_path, "--difficulty", "2,5")
    assert {p.rsplit("/", 1)[0] for p in again if p.endswith(".osu")}.isdisjoint(folder)
    # `mapper eval` reads the requested star rating back from the tags
    report = json.loads(runner.invoke(app, ["eval", maps[1], "--json"]).output)
    assert report["generated"]["target_stars"] == 5


def test_each_row_is_the_window_sweep_of_its_difficulty_alone(random_tiny_model):
    """Greedy, random weights (so every window writes tokens): the batched rows equal the
    one-difficulty sweep of each star rating, over a given timing (rows that run out of room in the
    batch are finished alone, as here, where every window runs to the end of its room)."""
    import dataclasses

    import numpy as np
    import torch

    from models.decoding.batch import SamplingSettings
    from models.generation.difficulty_batch import DifficultyBatch
    from models.generation.generator import GenerationSettings, Generator
    from profiles import load_profile
    from tokenization.events import ContextType, Event, EventType
    from tokenization.prompt import Conditioning

    model, vocab, samples = random_tiny_model
    tiny = load_profile("tiny")
    # a short decoder sequence keeps the windows (which random weights fill to the end) cheap
    profile = dataclasses.replace(tiny, model=dataclasses.replace(tiny.model, tgt_seq_len=320))
    audio = np.random.default_rng(0).standard_normal(int(samples * 1.5)).astype(np.float32) * 0.1
    settings = GenerationSettings(sampling=SamplingSettings(greedy=True), lookback=0.5, lookahead=0.4)
    generator = Generator(model, vocab, profile, settings)
    timing = {ContextType.TIMING: [Event(EventType.TIME_SHIFT, 500), Event(EventType.BEAT, 0)]}
    passes = [ContextType.MAP]  # random weights write whole windows: one pass keeps this test short
    conditionings = [Conditioning(gamemode=0, difficulty=stars, song_length_ms=30_000.0) for stars in (2.0, 7.0)]
    with torch.inference_mode():
        together = generator.generate_each(audio, conditionings, passes, finished=timing, strategy=DifficultyBatch())
        for conditioning, row in zip(conditionings, together):
            alone = generator.generate(audio, conditioning, passes, finished=timing)
            assert len(row[ContextType.MAP]) > 20 and row == alone


@pytest.mark.parametrize("args,message", [
    (["--difficulty", "2,2"], "twice"),
    (["--difficulty", "2,x"], "star ratings"),
    (["--difficulty", "2,40"], "between 0 and 15"),
    (["--difficulty", "2,5", "--difficulty-name", "Hard"], "named by their star ratings"),
    (["--difficulty", "2,5", "--parallel"], "--parallel"),
])
def test_bad_lists(trained, tmp_path, args, message):
    song, model = trained
    result = runner.invoke(app, ["generate", str(song / "audio.wav"), "--model", str(model), "--out",
                                 str(tmp_path), "-q", *args])
    assert result.exit_code != 0 and message in str(result.exception)
    assert not any(tmp_path.iterdir())


def test_the_starter_makes_each_difficulty_of_a_mapset_on_its_own_heard_density(tmp_path):
    """The bundled starter cannot hear rhythm: decoded together, each difficulty kept the model's own (the README
    clip's 2-star file rated 5.89, its 4-star one 1.93). Each is now made on the heard candidates of its rating."""
    from pathlib import Path

    from models.evaluation.difficulty import star_rating
    from models.model_source import starter_model

    if starter_model() is None:
        pytest.skip("this install has no bundled starter model")
    clip = Path(__file__).parent / "data" / "chaos_god" / "chaos_god_clip.ogg"
    result = runner.invoke(app, ["generate", str(clip), "--difficulty", "2,4", "--out", str(tmp_path), "--seed", "0",
                                 "-q"])
    assert result.exit_code == 0, result.output
    beatmaps = [read_beatmap(p.strip()) for p in result.stdout.splitlines() if p.strip().endswith(".osu")]
    assert [bm.metadata.version for bm in beatmaps] == ["2 stars (AI)", "4 stars (AI)"]
    assert [round(star_rating(bm)) for bm in beatmaps] == [2, 4]
    assert len(beatmaps[0].hit_objects) < len(beatmaps[1].hit_objects)
    reds = [[(tp.time, tp.beat_length) for tp in bm.timing_points if tp.uninherited] for bm in beatmaps]
    assert reds[0] and reds[0] == reds[1]  # the same heard timing
