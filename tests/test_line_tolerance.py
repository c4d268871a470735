"""Per-line tolerance of the .osu reader (issue 24, class 3): a timing-point line (or a line of any
other per-line section) holding a value out of range, or no number at all, is skipped with a
warning naming the file, the line and the field; the rest of the map reads, and round-trips with
its star rating unchanged. A ranked taiko map holds such lines (a red line at -5162220307 ms, beat
lengths of -2147483648 and 1E+298)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tokenization.osu_reader import parse_beatmap
from tokenization.osu_writer import format_beatmap

TAIKO = """osu file format v14

[General]
AudioFilename: audio.mp3
Mode: 1

[Difficulty]
HPDrainRate:5
CircleSize:5
OverallDifficulty:5
ApproachRate:5
SliderMultiplier:1.4
SliderTickRate:1

[Events]
2,1000,1e300
0,0,"bg.jpg",0,0

[TimingPoints]
-5162220307,500,4,1,0,100,1,0
0,500,4,1,0,100,1,0
1000,-2147483648,4,1,0,100,0,0
1500,1E+298,4,1,0,100,1,0
2000,-50,4,1,0,100,0,1
2500,12x,4,1,0,100,0,0

[Colours]
Combo1 : 255,192,0
Combo2 : 255,abc,0

[HitObjects]
256,192,0,1,0,0:0:0:0:
256,192,250,1,2,0:0:0:0:
256,192,500,1,8,0:0:0:0:
256,192,750,1,0,0:0:0:0:
256,192,1000,5,4,0:0:0:0:
256,192,1250,1,0,0:0:0:0:
256,192,1500,2,0,L|400:192,1,140
256,192,2000,1,2,0:0:0:0:
256,192,2125,1,0,0:0:0:0:
256,192,2250,1,8,0:0:0:0:
256,192,2500,12,0,3000,0:0:0:0:
256,192,3250,1,0,0:0:0:0:
"""


def _stars(text: str) -> float:
    import rosu_pp_py as rosu

    return float(rosu.Difficulty().calculate(rosu.Beatmap(content=text)).stars)


def test_unreadable_timing_lines_are_skipped_with_file_line_and_field():
    beatmap = parse_beatmap(TAIKO, path="aspire.osu")
    assert [(tp.time, tp.beat_length) for tp in beatmap.timing_points] == [(0, 500), (2000, -50)]
    assert len(beatmap.hit_objects) == 12
    assert beatmap.combo_colours == [(255, 192, 0)]
    assert beatmap.events.background == "bg.jpg" and beatmap.events.breaks == []
    assert beatmap.parse_warnings == [
        "aspire.osu:line 16: value 1e300 is out of range (limit 2.14748e+09) (field break end); event skipped",
        "aspire.osu:line 20: value -5162220307 is out of range (limit 2.14748e+09) (field time); timing point skipped",
        "aspire.osu:line 22: value -2147483648 is out of range (limit 1e+09) (field beatLength); timing point skipped",
        "aspire.osu:line 23: value 1E+298 is out of range (limit 1e+09) (field beatLength); timing point skipped",
        "aspire.osu:line 25: not a number: '12x' (field beatLength); timing point skipped",
        "aspire.osu:line 29: not a number: 'abc' (field Combo2); colour skipped",
    ]


def test_the_rest_round_trips_with_its_star_rating_unchanged():
    beatmap = parse_beatmap(TAIKO, path="aspire.osu")
    written = format_beatmap(beatmap)
    again = parse_beatmap(written, path="written.osu")
    assert again.parse_warnings == []
    assert again.timing_points == beatmap.timing_points and again.hit_objects == beatmap.hit_objects
    assert _stars(written) == pytest.approx(_stars(TAIKO), abs=1e-9)


def test_mapper_info_reads_the_map(tmp_path):
    path = tmp_path / "aspire.osu"
    path.write_text(TAIKO)
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "info", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr

