"""`mapper generate --refine`: a small trained model's map refined by a diffusion model, end to end."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from diffusion.features import ClassVocabulary
from diffusion.model import DiffusionConfig, DiT, save_model
from mapperator_cli.app import app
from tokenization import read_beatmap
from training.click_songs import trained_tiny

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained long enough on a click track to place circles when it generates."""
    return trained_tiny(tmp_path_factory.mktemp("refine"), steps=300)


def test_generate_refines_positions_with_a_diffusion_model(trained, tmp_path):
    song, model = trained
    torch.manual_seed(0)
    save_model(DiT(DiffusionConfig(hidden_size=32, depth=2, num_heads=2, class_size=ClassVocabulary().size)),
               tmp_path / "diffusion")
    maps = {}
    for name, flags in (("plain", ["--no-refine"]), ("refined", ["--refine", "--diffusion-model",
                                                                 str(tmp_path / "diffusion")])):
        result = runner.invoke(app, ["generate", str(song / "audio.wav"), "--model", str(model), "--seed", "1",
                                     "--out", str(tmp_path / name), "-q", *flags])
        assert result.exit_code == 0, result.output
        maps[name] = read_beatmap(result.output.strip().splitlines()[-1])
    plain, refined = maps["plain"], maps["refined"]
    assert len(plain.hit_objects) == len(refined.hit_objects) > 2
    assert [o.time for o in plain.hit_objects] == [o.time for o in refined.hit_objects]
    assert [(o.x, o.y) for o in plain.hit_objects] != [(o.x, o.y) for o in refined.hit_objects]
    assert all(0 <= o.x <= 512 and 0 <= o.y <= 384 for o in refined.hit_objects)
    missing = runner.invoke(app, ["generate", str(song / "audio.wav"), "--model", str(model), "--refine",
                                  "--diffusion-model", str(tmp_path / "nowhere"), "-q"])
    assert missing.exit_code != 0


def test_parallel_mode_writes_every_context_from_one_decoding_per_window(trained, tmp_path):
    """With --parallel the model writes timing, kiai and map in one go per window; the map's
    objects can only come from the map context cut out after the others."""
    song, model = trained
    result = runner.invoke(app, ["generate", str(song / "audio.wav"), "--model", str(model), "--seed", "1",
                                 "--parallel", "--batch-size", "2", "--no-refine", "--out", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    beatmap = read_beatmap(result.output.strip().splitlines()[-1])
    assert beatmap.hit_objects and any(tp.uninherited for tp in beatmap.timing_points)
    assert all(0 <= o.time <= 8000 for o in beatmap.hit_objects)


def test_super_timing_in_generate_is_the_timing_command(trained, tmp_path):
    song, model = trained
    timed = runner.invoke(app, ["timing", str(song / "audio.wav"), "--model", str(model), "--passes", "4",
                                "--seed", "3", "--out", str(tmp_path / "timing"), "-q"])
    assert timed.exit_code == 0, timed.output
    generated = runner.invoke(app, ["generate", str(song / "audio.wav"), "--model", str(model), "--seed", "3",
                                    "--super-timing", "--timing-passes", "4", "--output-type", "timing",
                                    "--out", str(tmp_path / "generate"), "-q"])
    assert generated.exit_code == 0, generated.output
    expected = read_beatmap(timed.output.strip().splitlines()[-1]).timing_points
    got = [tp for tp in read_beatmap(generated.output.strip().splitlines()[-1]).timing_points if tp.uninherited]
    assert expected and [(tp.time, tp.beat_length) for tp in got] == [(tp.time, tp.beat_length) for tp in expected]
