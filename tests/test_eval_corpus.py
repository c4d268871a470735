"""`mapper eval` on real maps of the corpus: each against itself is perfect; two difficulties of one
song share their timing but not their rhythm."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mapperator_cli.app import app
from tests.conftest import CORPUS, corpus_manifest

runner = CliRunner()


def real_maps_per_mode(per_mode: int = 2) -> list[dict]:
    """The smallest complete real maps of each mode (kept few: each evaluation rates both maps)."""
    entries = [e for e in corpus_manifest()["entries"] if e["kind"] == "beatmap" and e["n_hitobjects"] >= 50]
    chosen = []
    for mode in range(4):
        chosen += sorted((e for e in entries if e["mode"] == mode), key=lambda e: e["n_hitobjects"])[:per_mode]
    return chosen


def eval_json(*args) -> dict:
    result = runner.invoke(app, ["eval", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_every_mode_against_itself():
    entries = real_maps_per_mode()
    assert {e["mode"] for e in entries} == {0, 1, 2, 3}
    for entry in entries:
        path = CORPUS / entry["path"]
        report = eval_json(path, "--reference", path)
        c = report["comparison"]
        assert c["onset_f1_10ms"] == c["red_lines_matched_2ms"] == 1, entry["path"]
        assert c["bpm_error_pct"] == c["offset_error_ms"] == c["star_difference"] == 0
        assert report["generated"]["stars"] == pytest.approx(entry["star_rating"], abs=1e-3)  # the manifest's rosu-pp
        assert report["generated"]["objects"] == entry["n_hitobjects"]


def test_two_difficulties_of_one_song():
    entries = {e["version"]: e for e in corpus_manifest()["entries"] if e["mapset"] == "Favorite Liar"}
    hard, insane = CORPUS / entries["Hard"]["path"], CORPUS / entries["Amats' Insane"]["path"]
    c = eval_json(hard, "--reference", insane)["comparison"]
    assert c["bpm_error_pct"] == 0 and c["offset_error_ms"] == 0 and c["red_lines_matched_2ms"] == 1
    assert c["on_reference_grid_2ms"] == 1  # the same song, the same grid
    assert 0.6 < c["onset_f1_20ms"] < 0.9  # measured 0.757: mappers agree on most, not all, beats
    assert c["star_difference"] == pytest.approx(entries["Hard"]["star_rating"] - entries["Amats' Insane"]["star_rating"],
                                                 abs=1e-3)
