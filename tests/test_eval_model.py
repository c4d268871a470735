"""`mapper eval --model`: generate for every song folder map and measure each against it, with a tiny
model trained here (random quality is fine: this checks the plumbing and that the figures are computed)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mapperator_cli.app import app
from training.click_songs import trained_tiny

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    song, model = trained_tiny(tmp_path_factory.mktemp("eval-model"), steps=30)
    real = next(song.glob("*[[]Beats[]].osu"))
    text = real.read_text()
    (song / "Test - Clicks (tester) [Taiko].osu").write_text(
        text.replace("Mode: 0", "Mode: 1").replace("Version:Beats", "Version:Taiko"))
    # a generated map left in the folder is no reference
    (song / "zz generated.osu").write_text(text.replace("Version:Beats", "Version:AI\nTags:ai-generated mapper"))
    return song, model


def test_every_real_map_is_generated_and_measured(trained):
    song, model = trained
    before = sorted(p.name for p in song.iterdir())
    result = runner.invoke(app, ["eval", str(song.parent), "--model", str(model), "--device", "cpu", "--json", "-q"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert sorted(p.name for p in song.iterdir()) == before  # nothing written beside the songs
    assert [s["reference"].rsplit("[", 1)[1] for s in out["songs"]] == ["Beats].osu", "Taiko].osu"]
    assert out["skipped"] == []
    for entry, mode in zip(out["songs"], ("osu", "taiko")):
        report = entry["report"]
        assert report["generated"]["mode"] == report["reference"]["mode"] == mode  # the real map's mode
        assert report["generated"]["target_stars"] == pytest.approx(round(report["reference"]["stars"], 2))
        c = report["comparison"]
        assert 0 <= c["onset_f1_20ms"] <= 1 and 0 <= c["onset_recall_10ms"] <= 1
        assert report["generated"]["stars"] is not None
    stats = out["aggregate"]["comparison.onset_f1_20ms"]
    assert stats["n"] == 2 and stats["min"] <= stats["median"] <= stats["max"]


def test_limit_and_table(trained):
    song, model = trained
    result = runner.invoke(app, ["eval", str(song), "--model", str(model), "--device", "cpu", "--limit", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "aggregate over 1 map(s)" in result.output and "Beats" in result.output
    assert "Taiko" not in result.output


def test_a_missing_model_fails_once(trained, tmp_path):
    song, _ = trained
    result = runner.invoke(app, ["eval", str(song), "--model", str(tmp_path / "none"), "-q"])
    assert result.exit_code != 0 and "none" in str(result.exception)
