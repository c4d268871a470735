"""The wizard driven by scripted key presses through prompt_toolkit's pipe input."""

from __future__ import annotations

import shlex

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from typer.testing import CliRunner

from mapperator_cli.app import app
from mapperator_cli.wizard import run_wizard

DOWN, ENTER, SPACE, CTRL_C = "\x1b[B", "\r", " ", "\x03"


def drive(keys: list[str], **kwargs):
    with create_pipe_input() as pipe:
        pipe.send_text("".join(keys))
        return run_wizard(input=pipe, output=DummyOutput(), **kwargs)


@pytest.fixture
def files(tmp_path):
    song = tmp_path / "song.wav"
    song.write_bytes(b"RIFF")
    model = tmp_path / "model"
    model.mkdir()
    (model / "tokenizer.json").write_text('{"descriptor_idx": {"jump aim": 0, "tech": 1, "streams": 2}}')
    beatmap = tmp_path / "map.osu"
    beatmap.write_text("osu file format v14\n")
    return song, model, beatmap


def test_generate_with_descriptors_and_advanced_settings(files, tmp_path):
    song, model, _ = files
    keys = [ENTER,  # generate
            f"{song}{ENTER}", f"{model}{ENTER}", ENTER,  # osu
            f"abc{ENTER}", f"\x7f\x7f\x7f5.5{ENTER}",  # a bad star rating is asked again
            f"2019{ENTER}",
            SPACE, ENTER,  # include "jump aim"
            ENTER,  # no reference
            "y",  # advanced
            f"\x7f3{ENTER}",  # cfg 3
            SPACE, ENTER,  # exclude "tech" (the first one left)
            f"7{ENTER}", "n", ENTER, ENTER, f"{tmp_path / 'out'}{ENTER}",
            "y",  # .osz
            DOWN, DOWN, ENTER,  # refinement off
            f"1161{ENTER}",  # mapper style
            DOWN, ENTER,  # parallel windows
            DOWN, ENTER,  # amp
            DOWN, ENTER]  # only print
    argv, run = drive(keys)
    assert not run
    assert argv == ["generate", str(song), "--model", str(model), "--gamemode", "osu", "--difficulty", "5.5",
                    "--year", "2019", "--descriptor", "jump aim", "--cfg-scale", "3", "--negative-descriptor", "tech",
                    "--seed", "7", "--out", str(tmp_path / "out"), "--export-osz", "--no-refine", "--mapper", "1161",
                    "--parallel", "--precision", "amp"]
    assert shlex.split(shlex.join(argv)) == argv


def test_generate_a_span_into_a_reference(files, tmp_path):
    from profiles import load_profile
    from tokenization.vocabulary import build_vocabulary

    song, _, beatmap = files
    profile = load_profile("v29")  # a model folder whose tokenizer.json offers timing, kiai, gd and no_hs
    model = tmp_path / "v29"
    build_vocabulary(profile.tokenizer, [(t.inputs, t.outputs) for t in profile.templates]).save(model)
    keys = [ENTER, f"{song}{ENTER}", f"{model}{ENTER}", ENTER, ENTER, ENTER,  # osu, no stars, no year
            f"{beatmap}{ENTER}",
            SPACE, DOWN, DOWN, SPACE, DOWN, SPACE, ENTER,  # timing + gd + no_hs: refused
            SPACE, ENTER,  # untick no_hs
            "y", f"soon{ENTER}", "\x7f" * 4 + f"1:05{ENTER}", f"01:30:500{ENTER}",  # a bad time is asked again
            "y", "n",  # splice as a new difficulty, do not overwrite
            "n",  # no advanced settings
            DOWN, ENTER]
    argv, run = drive(keys)
    assert not run
    assert argv == ["generate", str(song), "--model", str(model), "--gamemode", "osu", "--beatmap", str(beatmap),
                    "--in-context", "timing", "--in-context", "gd", "--start-time", "1:05", "--end-time", "01:30:500",
                    "--add-to-beatmap"]


def test_timing_and_mod(files):
    song, model, beatmap = files
    argv, run = drive([DOWN, ENTER, f"{song}{ENTER}", f"{model}{ENTER}", f"\x7f\x7f8{ENTER}", ENTER, f"3{ENTER}",
                       ENTER, ENTER])
    assert run and argv == ["timing", str(song), "--model", str(model), "--passes", "8", "--seed", "3"]
    argv, _ = drive([DOWN, DOWN, ENTER, f"{beatmap}{ENTER}", f"{model}{ENTER}", ENTER, ENTER])
    assert argv == ["mod", str(beatmap), "--model", str(model), "--threshold", "20"]


def test_missing_file_is_asked_again(files, tmp_path):
    song, model, beatmap = files
    argv, _ = drive([DOWN, DOWN, ENTER, f"{tmp_path / 'nope.osu'}{ENTER}", "\x15", f"{beatmap}{ENTER}",
                     f"{model}{ENTER}", ENTER], print_only=True)
    assert argv[:2] == ["mod", str(beatmap)]


def test_cancel_writes_nothing(files, tmp_path):
    song, model, _ = files
    out = tmp_path / "out"
    assert drive([ENTER, f"{song}{ENTER}", CTRL_C]) is None
    assert drive([DOWN, DOWN, ENTER, "x", CTRL_C]) is None
    assert drive([DOWN, ENTER, f"{song}{ENTER}", f"{model}{ENTER}", ENTER, ENTER, ENTER, f"{out}{ENTER}",
                  DOWN, DOWN, ENTER]) is None  # "Cancel" at the end
    assert not out.exists()


def test_needs_a_terminal():
    result = CliRunner().invoke(app, ["wizard"], input="")
    assert result.exception is not None and "interactive terminal" in str(result.exception)


def test_answers_that_contradict_each_other_are_refused_as_generate_would(files, tmp_path):
    from mapperator_cli.errors import UserError

    song, model, beatmap = files
    keys = [ENTER, f"{song}{ENTER}", f"{model}{ENTER}", ENTER, f"2,3.5{ENTER}", ENTER,  # osu, a mapset, no year
            ENTER,  # no descriptors
            f"{beatmap}{ENTER}",
            "y", f"1:05{ENTER}", f"{ENTER}",  # a span to the end
            "y", "n",  # splice it into the reference: one difficulty only
            "n", DOWN, ENTER]
    with pytest.raises(UserError, match="--add-to-beatmap adds one difficulty: give a single --difficulty"):
        drive(keys)
