"""`GenerateRequest.verify()`: one place for every range and cross-option check of a generation,
with the command's messages, asked by the command, the pipeline and anything that holds option
values (a web form); one range per quantity across commands and profiles."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mapperator_cli.app import app
from mapperator_cli.generate_options import OPTIONS, SAME
from mapperator_cli.generate_request import request_from_options
from models.pipeline.request import GenerateRequest, RequestProblems, flag
from profiles import profile_from_dict
from profiles.limits import LIMITS
from tokenization.errors import MapperInputError


@pytest.fixture()
def song(tmp_path) -> Path:
    path = tmp_path / "song.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 1600)
    return path


def test_option_values_give_every_problem_with_the_commands_first_line(song, tmp_path):
    values = {"hp": 11.0, "cfg_scale": 0.5, "offset": 20.0, "lookback": 0.6, "lookahead": 0.4,
              "start_time": "soon", "difficulty": "2,2", "out": tmp_path / "out"}
    with pytest.raises(RequestProblems) as error:
        request_from_options(song, values)
    problems = error.value.problems
    assert problems == [
        ("--hp", "--hp must be between 0 and 10"),
        ("--cfg-scale", "--cfg-scale must be at least 1 (1 turns guidance off)"),
        ("--offset", "--offset needs --bpm"),
        ("--lookahead", "--lookback plus --lookahead must leave part of each window to generate (below 0.95)"),
        ("--start-time", "--start-time takes milliseconds, m:ss.s or mm:ss:mmm, not 'soon'"),
        ("--difficulty", "--difficulty lists a star rating twice"),
    ]
    cli = CliRunner().invoke(app, ["generate", str(song), "--hp", "11", "--cfg-scale", "0.5", "--offset", "20",
                                   "--lookback", "0.6", "--lookahead", "0.4", "--start-time", "soon",
                                   "--difficulty", "2,2", "--out", str(tmp_path / "out")])
    assert cli.exit_code != 0 and str(cli.exception) == problems[0][1]


def test_a_good_request_is_built_without_the_command(song, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    request = request_from_options(song, {"model": str(model), "difficulty": "2,3.5", "cfg_scale": 2.0,
                                          "negative_descriptor": ["tech"], "out": tmp_path / "out"})
    assert request.mapset == [2.0, 3.5] and request.difficulty is None and request.star_ratings == [2.0, 3.5]
    assert request.guided and request.model == str(model) and request.verify() is request


def test_the_pipeline_verifies_before_any_work(song, tmp_path):
    from models.pipeline.mapset import run_mapset
    from models.pipeline.run import run_generation

    request = GenerateRequest(audio=song, model=str(tmp_path / "no model"), out_dir=tmp_path, lookback=0.6,
                              lookahead=0.4)
    with pytest.raises(MapperInputError, match="--lookback plus --lookahead"):
        run_generation(request)
    request = GenerateRequest(audio=song, model=str(tmp_path / "no model"), out_dir=tmp_path, parallel=True)
    with pytest.raises(MapperInputError, match="--parallel makes one difficulty at a time"):
        run_mapset(request, [2.0, 3.0])


def test_one_range_per_quantity_across_commands_and_profiles(tmp_path):
    # a profile's guidance scale is the option's quantity: below 1 is refused, as --cfg-scale is
    with pytest.raises(MapperInputError, match="inference.cfg_scale: must be at least 1"):
        profile_from_dict({"name": "x", "inference": {"cfg_scale": 0.5}}, source="x.yaml")
    with pytest.raises(MapperInputError, match="inference.lookahead: must be between 0 and 0.9"):
        profile_from_dict({"name": "x", "inference": {"lookahead": 0.95}}, source="x.yaml")
    with pytest.raises(MapperInputError, match="inference.timer_iterations: must be at least 1"):
        profile_from_dict({"name": "x", "inference": {"timer_iterations": 0}}, source="x.yaml")
    # eval's target star rating has generate's --difficulty range
    real = tmp_path / "map.osu"
    real.write_text("osu file format v14\n\n[General]\nAudioFilename: a.mp3\nMode: 0\n\n[Metadata]\nTitle:t\n"
                    "Artist:a\nCreator:c\nVersion:v\n\n[Difficulty]\nCircleSize:4\nOverallDifficulty:8\n"
                    "ApproachRate:9\nHPDrainRate:5\nSliderMultiplier:1.4\nSliderTickRate:1\n\n[TimingPoints]\n"
                    "0,500,4,2,0,100,1,0\n\n[HitObjects]\n256,192,1000,1,0,0:0:0:0:\n")
    result = CliRunner().invoke(app, ["eval", str(real), "--target-stars", "17"])
    assert result.exit_code != 0 and "--target-stars must be between 0 and 15" in str(result.exception)


def test_every_option_names_its_quantity_as_the_request_does():
    for option in OPTIONS:
        if option.field is None:
            continue
        field = option.name if option.field == SAME else option.field
        assert flag(field) == option.flag, option.name
        if option.check is None and field in LIMITS:  # the wizard's answer check is the request's range
            assert option.problem(-1e9) == (f"{option.flag} {LIMITS[field].problem(-1e9)}"
                                            if LIMITS[field].problem(-1e9) else None)


def test_guidance_is_decided_once():
    from models.generation.generator import GenerationSettings

    for scale, on in [(None, False), (1.0, False), (1.01, True), (3.0, True)]:
        assert GenerateRequest(audio=Path("a"), model="m", cfg_scale=scale).guided is on
        if scale is not None:
            assert GenerationSettings(cfg_scale=scale).guided is on


def test_game_modes_by_name_number_or_old_name(song, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    for given, number in (("catch", 2), ("2", 2), ("CTB", 2), ("fruits", 2), ("std", 0), ("3", 3), ("Taiko", 1)):
        request = request_from_options(song, {"model": str(model), "gamemode": given, "out": tmp_path / "out"})
        assert request.gamemode == number, given
    with pytest.raises(RequestProblems) as error:
        request_from_options(song, {"model": str(model), "gamemode": "4", "out": tmp_path / "out"})
    assert error.value.problems == [("--gamemode", "unknown game mode '4' (choose from osu, taiko, catch, mania, or 0-3)")]
