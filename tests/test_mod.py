"""`mapper mod` ranking with a controlled model: trained on a map, asked about a copy with objects moved."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mapperator_cli.app import app
from models.pipeline.modding import Suggestion
from training.click_songs import beat_map, trained_tiny

runner = CliRunner()
MOVED = {5: (448, 352), 10: (64, 40)}  # object index -> new position, off the square walk
OFFSET_MS, BEAT_MS = 500, 500


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_tiny(tmp_path_factory.mktemp("mod"), steps=80)


def test_moved_objects_come_first(trained):
    song, model = trained
    moved = beat_map(song / "moved.osu", "audio.wav", seconds=8.0, version="Moved", moved=MOVED)
    result = runner.invoke(app, ["mod", str(moved), "--model", str(model), "--json", "-q"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)["suggestions"]
    moved_times = {OFFSET_MS + k * BEAT_MS for k in MOVED}
    ranked_times = list(dict.fromkeys(s["time_ms"] for s in found))  # objects in rank order
    assert set(ranked_times[:2]) == moved_times, found[:6]
    assert found[0]["severity"] == "problem" and found[0]["link"].startswith("osu://edit/00:0")
    assert [s["score"] for s in found] == sorted((s["score"] for s in found), reverse=True)


def test_the_unmoved_map_is_quieter(trained):
    song, model = trained
    original = next(song.glob("*[[]Beats[]].osu"))
    moved = beat_map(song / "moved2.osu", "audio.wav", seconds=8.0, version="Moved", moved=MOVED)
    top = {}
    for name, path in (("original", original), ("moved", moved)):
        result = runner.invoke(app, ["mod", str(path), "--model", str(model), "--json", "-q"])
        found = json.loads(result.output)["suggestions"]
        top[name] = found[0]["score"] if found else 0.0
    assert top["original"] < top["moved"]


def test_table_output_and_bad_input(trained, tmp_path):
    song, model = trained
    original = next(song.glob("*[[]Beats[]].osu"))
    result = runner.invoke(app, ["mod", str(original), "--model", str(model), "-q", "--top", "3"])
    assert result.exit_code == 0 and "suggestions" in result.output
    lonely = tmp_path / "lonely.osu"
    lonely.write_text(original.read_text())
    result = runner.invoke(app, ["mod", str(lonely), "--model", str(model)])
    assert result.exception is not None and "audio" in str(result.exception)


def test_editor_timestamps():
    s = Suggestion(time_ms=83_456, score=120.0, category="Compose", label="Circle", message="m", combo="(3)")
    assert s.editor_text == "01:23:456 (3) -" and s.link == "osu://edit/01:23:456%20(3)" and s.severity == "problem"
    assert Suggestion(5, 9.0, "", "", "").severity == "minor" and Suggestion(5, 10.0, "", "", "").severity == "warning"

