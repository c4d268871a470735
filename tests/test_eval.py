"""`mapper eval` on constructed maps of all four modes, whose true figures are known."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mapperator_cli.app import app
from models.evaluation import aggregate, evaluate
from tests.eval_maps import OBJECTS, map_text, write_map
from tokenization.osu_reader import parse_beatmap

MODES = ("osu", "taiko", "catch", "mania")
runner = CliRunner()


def report_of(mode: str, target_stars=None, **changes) -> dict:
    real = parse_beatmap(map_text(mode))
    return evaluate(parse_beatmap(map_text(mode, **changes)), real, target_stars)


def eval_json(*args: str) -> dict:
    result = runner.invoke(app, ["eval", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("mode", MODES)
def test_a_map_against_itself_is_perfect(mode, tmp_path):
    path = write_map(tmp_path, "real", mode)
    report = eval_json(str(path), "--reference", str(path))
    c = report["comparison"]
    assert c["same_mode"] and c["bpm_error_pct"] == 0 and c["offset_error_ms"] == 0
    assert c["red_lines_matched_2ms"] == c["red_lines_matched_10ms"] == 1
    for tolerance in ("10ms", "20ms"):
        assert c[f"onset_precision_{tolerance}"] == c[f"onset_recall_{tolerance}"] == c[f"onset_f1_{tolerance}"] == 1
    assert c["on_reference_grid_2ms"] == c["on_reference_grid_10ms"] == 1
    assert c["star_difference"] == 0 and c["density_ratio"] == 1
    generated = report["generated"]
    assert generated["stars"] > 0 and generated["problems"] == [], generated["problems"]
    assert generated["timing"]["bpm"] == pytest.approx(150) and generated["timing"]["offset_ms"] == 100
    # 64 objects, one per 400 ms beat, the last a half-beat slider/hold in some modes
    span_min = (63 * 400 + (200 if mode in ("osu", "catch", "mania") else 0)) / 60000
    assert generated["objects_per_minute"] == pytest.approx(OBJECTS / span_min)


@pytest.mark.parametrize("mode", MODES)
def test_shifted_by_7_ms(mode):
    c = report_of(mode, shift_ms=7)["comparison"]
    assert c["offset_error_ms"] == pytest.approx(7) and c["bpm_error_pct"] == pytest.approx(0)
    assert c["red_lines_matched_2ms"] == 0 and c["red_lines_matched_10ms"] == 1
    assert c["onset_f1_10ms"] == c["onset_f1_20ms"] == 1
    # 7 ms from every 1/16 (25 ms) and 1/12 (33.3 ms) snap of the real map
    assert c["on_reference_grid_2ms"] == 0 and c["on_reference_grid_10ms"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_shifted_by_15_ms_leaves_the_10_ms_window(mode):
    c = report_of(mode, shift_ms=15)["comparison"]
    assert c["onset_f1_10ms"] == 0 and c["onset_f1_20ms"] == 1 and c["offset_error_ms"] == pytest.approx(15)


@pytest.mark.parametrize("mode", MODES)
def test_bpm_scaled_by_1_percent(mode):
    report = report_of(mode, bpm_scale=1.01)
    c = report["comparison"]
    assert c["bpm_error_pct"] == pytest.approx(1.0) and c["offset_error_ms"] == pytest.approx(0)
    assert report["generated"]["problems"] == []  # on its own grid the map is clean
    # object k drifts 4k ms early (400 ms / 1.01 per beat): within 10 ms up to k = 2, within 20 ms up to k = 5
    assert c["onset_recall_10ms"] == pytest.approx(3 / OBJECTS)
    assert c["onset_recall_20ms"] == pytest.approx(6 / OBJECTS)


@pytest.mark.parametrize("mode", MODES)
def test_a_deleted_half(mode):
    c = report_of(mode, keep=lambda k: k % 2 == 0)["comparison"]
    assert c["onset_precision_10ms"] == 1 and c["onset_recall_10ms"] == 0.5
    assert c["onset_f1_10ms"] == pytest.approx(2 / 3) and c["bpm_error_pct"] == 0


@pytest.mark.parametrize("mode", MODES)
def test_objects_moved_off_the_grid(mode):
    moved = {k: 5.0 for k in range(0, OBJECTS, 4)}  # a quarter of the objects, 5 ms late
    report = report_of(mode, nudge=moved)
    c = report["comparison"]
    assert c["on_reference_grid_2ms"] == 0.75 and c["on_reference_grid_10ms"] == 1
    assert c["onset_f1_10ms"] == 1
    unsnapped = [p for p in report["generated"]["problems"] if p["check"] == "unsnapped"]
    assert [p["time"] for p in unsnapped] == [500 + 400 * k + 5 for k in moved]
    assert all(p["severity"] == "problem" and "+5.00 ms" in p["message"] for p in unsnapped)


def test_unsnap_severities_follow_mapsetverifier():
    report = report_of("taiko", nudge={1: 1.0, 2: 1.9, 3: 2.0, 4: 0.4})
    found = {p["time"]: p["severity"] for p in report["generated"]["problems"]}
    assert found == {901.0: "minor", 1301.9: "minor", 1702.0: "problem"}


def test_composition_per_mode():
    shares = {mode: report_of(mode)["generated"]["composition"] for mode in MODES}
    assert shares["osu"] == {"circle_share": 0.5, "slider_share": 0.5, "spinner_share": 0.0}
    assert shares["catch"]["slider_share"] == 0.5
    assert shares["taiko"]["don_share"] == 0.5 and shares["taiko"]["kat_share"] == 0.5
    assert shares["mania"] == {"hold_share": 0.25, "column_shares": [0.25, 0.25, 0.25, 0.25]}


def test_target_stars_come_from_the_tags_or_the_option(tmp_path):
    real = write_map(tmp_path, "real", "osu")
    generated = write_map(tmp_path, "generated", "osu", tags="ai-generated mapper target-stars-3.5")
    report = eval_json(str(generated))
    assert report["generated"]["target_stars"] == 3.5 and "comparison" not in report
    assert report["generated"]["star_error"] == pytest.approx(report["generated"]["stars"] - 3.5)
    report = eval_json(str(generated), "--reference", str(real), "--target-stars", "2")
    assert report["generated"]["target_stars"] == 2


def test_modder_problems():
    beat = 400
    unsnapped = ["64,192,640,1,0,0:0:0:0:"]  # column 1, 140 ms after the note at 500: off every snap
    hold_overlap = ["448,192,1800,1,0,0:0:0:0:"]  # column 4, during the hold at 1700-1900
    found = report_of("mania", extra_objects=unsnapped + hold_overlap)["generated"]["problems"]
    assert {(p["time"], p["check"]) for p in found} == {(1800.0, "too-close"), (640.0, "unsnapped")}
    off = ["600,192,2500,1,0,0:0:0:0:", "256,390,2900,1,0,0:0:0:0:"]  # off a 4:3 screen; only off the playfield
    found = report_of("osu", extra_objects=off)["generated"]["problems"]
    offscreen = {p["time"]: p["severity"] for p in found if p["check"] == "offscreen"}
    assert offscreen == {2500.0: "problem", 2900.0: "minor"}
    assert {p["time"] for p in found if p["check"] == "too-close"} == {2500.0, 2900.0}  # on top of objects
    long_slider = [f"100,100,{500 + beat * 70},2,0,L|200:100,1,77"]  # 77 px at 140 px/beat: ends 20 ms late
    found = report_of("osu", extra_objects=long_slider)["generated"]["problems"]
    assert [(p["check"], p["severity"]) for p in found] == [("slider-length", "problem")]


def test_tables_and_bad_input(tmp_path):
    real = write_map(tmp_path, "real", "mania")
    result = runner.invoke(app, ["eval", str(real), "--reference", str(real)])
    assert result.exit_code == 0 and "F1" in result.output and "column use" in result.output, result.output
    result = runner.invoke(app, ["eval", str(real)])
    assert result.exit_code == 0 and "against the reference" not in result.output
    for args, message in [
        ([str(tmp_path / "none.osu")], "not found"),
        ([str(real), "--reference", str(tmp_path / "none.osu")], "not found"),
        ([str(real), "--limit", "2"], "only applies with --model"),
        ([str(real), "--target-stars", "-1"], "--target-stars"),
        ([str(real), "--model", "x"], "song folder"),
        ([str(tmp_path), "--model", "x"], "no .osu"),
    ]:
        result = runner.invoke(app, ["eval", *args])
        assert result.exit_code != 0 and message in str(result.exception), (args, result.exception)


def test_aggregate_gives_median_and_spread():
    reports = [report_of("osu", shift_ms=s) for s in (0, 7, 15)]
    summary = aggregate(reports)
    assert summary["comparison.offset_error_ms"] == {"n": 3, "median": pytest.approx(7), "q1": pytest.approx(3.5),
                                                     "q3": pytest.approx(11), "min": 0, "max": pytest.approx(15)}
    assert summary["comparison.onset_f1_10ms"]["median"] == 1
