"""Reader details: version quirks, tolerance of real-world files, strictness on bad numbers."""

from __future__ import annotations

import pytest

from tokenization import ParseError, parse_beatmap, read_beatmap
from tokenization.beatmap import CurveType, GameMode, HoldNote, Slider, Spinner
from tokenization.timing import TimingIndex, combo_numbers

MINIMAL = """osu file format v14

[General]
Mode: 0

[Difficulty]
SliderMultiplier:1.4

[TimingPoints]
1000,500,4,2,0,60,1,0
3000,-50,4,2,0,60,0,1

[HitObjects]
{objects}
"""


def parse_objects(objects: str, version: int = 14):
    return parse_beatmap(MINIMAL.format(objects=objects).replace("v14", f"v{version}"), path="test.osu")


def test_all_object_kinds():
    bm = parse_objects("\n".join([
        "256,192,1000,5,2,0:0:0:0:",
        "100,100,1500,6,0,B|200:200|250:200|250:200|300:150,2,310.5,2|1|2,0:0|0:0|0:2,0:0:0:0:",
        "256,192,4000,12,0,5000,0:0:0:0:",
        "64,192,6000,128,0,6500:0:0:0:0:",
    ]))
    circle, slider, spinner, hold = bm.hit_objects
    assert circle.new_combo and circle.hitsound == 2
    assert isinstance(slider, Slider) and slider.slides == 2 and slider.length == 310.5
    assert [(p.x, p.y) for p in slider.path] == [(100, 100), (200, 200), (250, 200), (250, 200), (300, 150)]
    assert slider.duration == pytest.approx(310.5 / 140 * 500 * 2)  # SV 1 at 1500 ms
    assert [e.hitsound for e in slider.edge_sounds] == [2, 1, 2]
    assert isinstance(spinner, Spinner) and spinner.end_time == 5000
    assert isinstance(hold, HoldNote) and hold.end_time == 6500


def test_slider_velocity_changes_duration():
    bm = parse_objects("100,100,3000,2,0,L|300:100,1,280")
    assert bm.hit_objects[0].duration == pytest.approx(280 / (140 * 2) * 500)


def test_early_versions_are_shifted_24_ms():
    bm = parse_objects("256,192,1000,1,0", version=4)
    assert bm.hit_objects[0].time == 1024
    assert bm.timing_points[0].time == 1024


def test_lazer_per_segment_types_and_fractional_coordinates():
    bm = parse_objects("0.5,32.25,1042,6,2,B|96:32|96:128|P|192:128|192:224|L|320:224|B4|416:128,1,500", 128)
    path = bm.hit_objects[0].path
    assert (path[0].x, path[0].y) == (0.5, 32.25)
    assert path[2].type is CurveType.PERFECT and path[4].type is CurveType.LINEAR
    assert path[5].type is CurveType.BEZIER and path[5].degree == 4


def test_tolerates_bom_crlf_comments_and_unknown_sections():
    text = "\ufeffosu file format v9\r\n\r\n[Unknown]\r\nfoo=bar\r\n[General]\r\nMode: 3 // mania\r\n" \
           "[Difficulty]\r\nCircleSize:7\r\n[HitObjects]\r\n// a comment\r\n36,192,100,1,0\r\n"
    bm = parse_beatmap(text.encode("utf-8"))
    assert bm.mode is GameMode.MANIA and bm.key_count == 7 and len(bm.hit_objects) == 1


def test_missing_approach_rate_equals_overall_difficulty():
    bm = parse_beatmap("osu file format v5\n[Difficulty]\nOverallDifficulty:7\n")
    assert bm.difficulty.approach_rate == 7


@pytest.mark.parametrize("line,field", [
    ("256,192,NaN,1,0", "time"),
    ("inf,192,1000,1,0", "x"),
    ("100,100,1500,2,0,B|200:200,1,nan", "length"),
    ("256,192,1000", "hit object"),
    ("256,192,1000,1024,0", "type"),
])
def test_bad_numbers_name_line_and_field(line, field):
    with pytest.raises(ParseError) as error:
        parse_objects(line)
    message = str(error.value)
    assert "test.osu:line 14" in message and f"field {field}" in message
    assert "\n" not in message


def test_out_of_range_values_skip_the_line_with_a_warning():
    # osu! skips such a line and reads the rest (ranked aspire maps hold one)
    bm = parse_objects("256,192,1e300,1,0\n256,192,1000,1,0")
    assert [obj.time for obj in bm.hit_objects] == [1000]
    assert bm.parse_warnings == ["test.osu:line 14: value 1e300 is out of range (limit 2.14748e+09) (field time); "
                                 "hit object skipped"]


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x02binary junk" * 10, b"hello world", b"osu file format v"])
def test_not_a_beatmap(data):
    with pytest.raises(ParseError):
        parse_beatmap(data)


def test_truncated_file_keeps_what_is_complete(tmp_path):
    text = MINIMAL.format(objects="256,192,1000,1,0\n300,100,1200,2,0,B|400:1")
    path = tmp_path / "cut.osu"
    path.write_text(text)
    with pytest.raises(ParseError, match="slider needs"):
        read_beatmap(path)


def test_huge_file_is_refused(tmp_path, monkeypatch):
    import tokenization.osu_reader as reader

    monkeypatch.setattr(reader, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "huge.osu"
    path.write_text(MINIMAL.format(objects="256,192,1000,1,0\n" * 200))
    with pytest.raises(ParseError, match="too large"):
        read_beatmap(path)


def test_nan_red_line_is_dropped_and_reported():
    bm = parse_beatmap("osu file format v14\n[TimingPoints]\n0,NaN,4,2,0,100,1,0\n1000,500,4,2,0,100,1,0\n"
                       "2000,NaN,4,3,0,100,0,1\n")
    assert [tp.time for tp in bm.timing_points] == [1000, 2000]
    assert bm.parse_warnings


def test_timing_lookups_and_combos():
    bm = parse_objects("\n".join(["256,192,1000,5,0", "256,192,1250,1,0", "256,192,1500,8,0,2000",
                                  "256,192,2500,1,0", "256,192,3000,37,0"]))
    timing = TimingIndex(bm.timing_points)
    assert timing.beat_length_at(5000) == 500
    assert timing.slider_velocity_at(3500) == 2.0 and timing.kiai_at(3500)
    assert timing.snap_divisor(1250) == 2 and timing.snap_divisor(1125) == 4 and timing.snap_divisor(1007) == 0
    numbers = [(c.number, c.combo_index, c.colour_index) for c in combo_numbers(bm)]
    # spinner starts a combo and the object after it starts another; combo skip 2 on the last
    assert numbers == [(1, 0, 0), (2, 0, 0), (1, 1, 1), (1, 2, 2), (1, 3, 5)]
