"""Written timing points (issue 24, class 4): every object's hitsound volume is a timing-point
change at the object that also holds for later points (volume, and the sample index back to -1); a
change before the first red line moves that red line back by whole measures and adds a green line;
green lines before the first red line are dropped. The rule is the published postprocessor's; the
four e2e runs check it against the original's own files (tests/test_e2e_parity.py)."""

from __future__ import annotations

from models.postprocess.build import BeatmapInfo, build_beatmap
from profiles import load_profile
from tokenization.beatmap import TimingPoint
from tokenization.events import ContextType, Event, EventType
from tokenization.osu_writer import format_beatmap

E = EventType


def _circle(time: int, volume: int | None = None) -> list[Event]:
    """One circle, types first (v29)."""
    return [Event(E.CIRCLE), Event(E.TIME_SHIFT, time)] + ([Event(E.VOLUME, volume)] if volume is not None else [])


def _written_timing(events: list[Event], reds: list[TimingPoint]) -> list[str]:
    settings = load_profile("v29").tokenizer
    beatmap, _ = build_beatmap({ContextType.MAP: events}, settings, BeatmapInfo(), reference_timing=reds,
                               types_first=True, resnap=False)
    lines = format_beatmap(beatmap).splitlines()
    start = lines.index("[TimingPoints]") + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].strip() or lines[i].startswith("["))
    return lines[start:end]


def test_each_volume_is_a_change_that_holds_for_later_points_and_moves_the_first_red_line_back():
    reds = [TimingPoint(1000, 500, 4, 1, 1, 60), TimingPoint(5000, 400, 4, 1, 1, 60)]
    events = _circle(200, 70) + _circle(3000, 40) + _circle(3500, 40) + _circle(6000)
    assert _written_timing(events, reds) == [
        "-1000,500,4,1,1,60,1,0",  # one measure (2000 ms) back, so the change at 200 ms has a red line
        "200,-100,4,1,-1,70,0,0",
        "3000,-100,4,1,-1,40,0,0",  # the change at 3500 ms sets what is already in force: no line
        "5000,400,4,1,-1,40,1,0",  # a later red line takes the volume and index of the last change
    ]


def test_the_red_line_moves_back_by_whole_measures_of_its_own_meter_in_whole_milliseconds():
    reds = [TimingPoint(245, 1000 / 3, 3, 2, 1, 60)]
    # 3/4 at 180 BPM: a measure is 1000 ms, and 2245 ms back from 245 ms are 3 measures
    assert _written_timing(_circle(-2000, 50), reds)[:2] == ["-2755,333.3333333333333,3,2,1,60,1,0",
                                                             "-2000,-100,3,2,-1,50,0,0"]
    reds = [TimingPoint(245, 800 / 3, 4, 2, 1, 60)]  # 1066.67 ms measures: written rounded down, as the original
    assert _written_timing(_circle(0, 66), reds)[0] == "-822,266.6666666666667,4,2,1,60,1,0"


def test_kiai_in_stream_order_with_volumes():
    reds = [TimingPoint(0, 500, 4, 2, 0, 80)]
    events = _circle(1000, 30) + [Event(E.KIAI, 1), Event(E.TIME_SHIFT, 2000)] + _circle(2500, 30)
    assert _written_timing(events, reds) == [
        "0,500,4,2,0,80,1,0",
        "1000,-100,4,2,-1,30,0,0",
        "2000,-100,4,2,-1,30,0,1",
    ]


def test_green_lines_before_the_first_red_line_are_dropped():
    from models.postprocess.timing_changes import drop_before_first_red

    points = [TimingPoint(-50, -50, uninherited=False), TimingPoint(0, 500), TimingPoint(10, -50, uninherited=False)]
    assert [tp.time for tp in drop_before_first_red(points)] == [0, 10]
