"""Postprocessing beyond plain objects: taiko drumrolls, mania scroll speeds, near-overlap
snapping, red lines resetting slider velocity, and splicing a generated span into a reference."""

from __future__ import annotations

import copy

import pytest

from models.generation.event_times import trim_events
from models.generation.windows import select_windows
from models.postprocess.build import BeatmapInfo, build_beatmap
from models.postprocess.overlap import snap_near_overlaps
from models.postprocess.remap import splice
from profiles import load_profile
from tests.conftest import require_shared
from tokenization import read_beatmap
from tokenization.beatmap import Circle, PathPoint, Slider, TimingPoint
from tokenization.beatmap_to_events import BeatmapEncoder
from tokenization.events import ContextType
from tokenization.slider_path import SliderPath
from tokenization.timing import TimingIndex
from training.click_songs import beat_map


def rebuild(beatmap, contexts=(ContextType.MAP,), **info):
    profile = load_profile("v29")
    encoder = BeatmapEncoder(beatmap, profile.tokenizer)
    streams = {c: encoder.context(c).events for c in contexts}
    settings = BeatmapInfo(mode=beatmap.mode, slider_multiplier=beatmap.difficulty.slider_multiplier, **info)
    return build_beatmap(streams, profile.tokenizer, settings, reference_timing=beatmap.timing_points,
                         types_first=profile.tokenizer.types_first)


def test_taiko_drumrolls_become_straight_zigzags_that_last_as_long_as_the_source():
    source = read_beatmap(require_shared("corpus", "ppy+osu", "_stripped_osu.Game.Tests__Resources",
                                         "sample-beatmap-taiko.osu"))
    rolls = [o for o in source.hit_objects if isinstance(o, Slider)]
    rebuilt, report = rebuild(source)
    made = [o for o in rebuilt.hit_objects if isinstance(o, Slider)]
    assert len(made) == len(rolls) > 0 and report.dropped_drumrolls == 0
    for original, roll in zip(rolls, made):
        assert abs(roll.time - original.time) <= 10
        assert abs(roll.duration - original.duration) <= 10  # length, SV and timing agree
        assert (roll.x, roll.y) == (0, 192) and all(p.y == 192 and p.x in (0, 512) for p in roll.path)
        assert SliderPath.from_points(roll.path).distance >= roll.length - 1e-6


def test_mania_scroll_speeds_come_back_from_the_sv_pass():
    source = read_beatmap(require_shared("corpus", "ppy+osu", "241526 Soleily - Renatus_virtual",
                                         "Soleily - Renatus (ExPew) [Hyper].osu"))
    rebuilt, _ = rebuild(source, (ContextType.MAP, ContextType.SV), keycount=int(source.difficulty.circle_size))
    before, after = TimingIndex(source.timing_points), TimingIndex(rebuilt.timing_points)
    checked = 0
    for tp in source.timing_points:
        if not tp.uninherited:
            t = tp.time + 1
            assert after.slider_velocity_at(t) == pytest.approx(before.slider_velocity_at(t), rel=0.02)
            checked += 1
    assert checked > 3


def test_a_red_line_resets_velocity_so_it_is_restated():
    source = beat_map_with_two_tempos()
    rebuilt, _ = rebuild(source)
    index = TimingIndex(rebuilt.timing_points)
    for original in source.hit_objects:
        if isinstance(original, Slider):
            assert index.slider_velocity_at(original.time) == pytest.approx(
                TimingIndex(source.timing_points).slider_velocity_at(original.time), abs=0.01)


def beat_map_with_two_tempos():
    from tokenization.beatmap import Beatmap

    bm = Beatmap()
    bm.timing_points = [TimingPoint(0, 500), TimingPoint(0, -50.0, uninherited=False),
                        TimingPoint(4000, 400), TimingPoint(4000, -50.0, uninherited=False)]
    for time in (1000, 5000):
        bm.hit_objects.append(Slider(100, 100, time, path=[PathPoint(100, 100), PathPoint(380, 100)],
                                     length=280.0, duration=None))
    bm.timing_points.sort(key=lambda tp: (tp.time, not tp.uninherited))
    return bm


def test_near_overlaps_snap_onto_the_earlier_point():
    objects = [Circle(100, 100, 0), Circle(102, 101, 400), Circle(110, 100, 600), Circle(101, 100, 2000),
               Slider(103, 102, 700, path=[PathPoint(103, 102), PathPoint(200, 100), PathPoint(200, 100),
                                           PathPoint(300, 100)], length=300)]
    objects.sort(key=lambda o: o.time)
    moved = snap_near_overlaps(objects)
    by_time = {o.time: o for o in objects}
    assert (by_time[400].x, by_time[400].y) == (100, 100)  # 2.2 px away: meant to stack
    assert (by_time[600].x, by_time[600].y) == (110, 100)  # 10 px: deliberate
    assert (by_time[700].x, by_time[700].y) == (100, 100) and by_time[700].path[0].x == 100
    assert (by_time[2000].x, by_time[2000].y) == (101, 100)  # too long after
    assert moved == 2


def test_splice_keeps_the_reference_outside_the_span_and_hands_timing_over(tmp_path):
    reference = read_beatmap(beat_map(tmp_path / "ref.osu", "audio.wav", seconds=12, bpm=120, offset_ms=500))
    generated = read_beatmap(beat_map(tmp_path / "gen.osu", "audio.wav", seconds=12, bpm=150, offset_ms=300))
    kept = copy.deepcopy(reference)
    merged = splice(reference, generated, 4000, 8000)
    assert reference == kept  # the reference itself is untouched
    outside = [o for o in reference.hit_objects if not 4000 <= o.time <= 8000]
    inside = [o for o in generated.hit_objects if 4000 <= o.time <= 8000]
    assert sorted(o.time for o in merged.hit_objects) == sorted(o.time for o in outside + inside)
    reds = [tp for tp in merged.timing_points if tp.uninherited]
    assert [tp.beat_length for tp in reds] == [500, 400, 500]
    assert 4000 <= reds[1].time < 4400 and (reds[1].time - 300) % 400 == 0  # on the generated grid
    assert 8000 < reds[2].time <= 8500 and (reds[2].time - 500) % 500 == 0  # back on the reference grid


def test_window_selection_and_trimming_for_a_span():
    starts = [i * 1637 for i in range(20)]
    chosen = select_windows(starts, 16376, 10000, 14000, lookback=0.5, lookahead=0.4)
    assert chosen[0] > 0 and chosen[-1] < 19
    for i in chosen:  # every kept window commits something inside the span
        assert starts[i] + 0.6 * 16376 > 10000 and starts[i] + 0.5 * 16376 < 14000
    assert select_windows(starts, 16376, None, None, 0.5, 0.4) == list(range(20))
    profile = load_profile("v29")
    source = read_beatmap(require_shared("fixtures", "audio", "click120_timing.osu"))
    events = BeatmapEncoder(source, profile.tokenizer).timing_events(12000).events
    trimmed = trim_events(events, True, 3000, 6000)
    assert 0 < len(trimmed) < len(events)
