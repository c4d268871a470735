"""Objects chosen on the heard grid end on the grid as written, even where building the map moved the first red
line back by whole measures (whole milliseconds, so its grid shifts by a fraction of one)."""

from __future__ import annotations

import math

from models.evaluation.problems import find_problems
from models.postprocess.written_grid import snap_to_written_grid
from tokenization.beatmap import Beatmap, Circle, GameMode, General, HoldNote, TimingPoint

BEAT_MS = 60000.0 / 230  # 260.869... ms


def test_objects_follow_a_red_line_moved_back_by_measures():
    heard_offset = 1257.0
    grid = [heard_offset + i * BEAT_MS / 2 for i in range(200)]
    objects = [Circle(64, 192, math.floor(t + 1e-6)) for t in grid[::2]]
    objects += [HoldNote(192, 192, math.floor(t + 1e-6), hold_end=math.floor(t + BEAT_MS + 1e-6)) for t in grid[1::4]]
    objects.sort(key=lambda o: o.time)
    # as timing_changes writes it: four measures back, rounded down to a whole millisecond
    moved = math.floor(heard_offset - 4 * 4 * BEAT_MS)
    beatmap = Beatmap(general=General(mode=GameMode.MANIA), timing_points=[TimingPoint(moved, BEAT_MS, 4)],
                      hit_objects=objects)
    assert [p for p in find_problems(beatmap) if p.check == "unsnapped"]  # off the written grid by 1 ms
    before = [o.time for o in beatmap.hit_objects]
    assert snap_to_written_grid(beatmap) > 0
    assert [p for p in find_problems(beatmap) if p.check == "unsnapped"] == []
    assert all(abs(o.time - t) <= 1 for o, t in zip(beatmap.hit_objects, before))
    assert snap_to_written_grid(beatmap) == 0  # on the grid already: nothing moves


def test_objects_are_held_to_the_heard_times():
    from models.postprocess.written_grid import on_heard_times

    heard = [1000.0, 1250.0, 1500.0]
    beatmap = Beatmap(general=General(mode=GameMode.MANIA), timing_points=[TimingPoint(1000, 250.0, 4)],
                      hit_objects=[Circle(64, 192, 1000), Circle(192, 192, 1243), HoldNote(320, 192, 1500, hold_end=1750),
                                   Circle(448, 192, 1590)])
    assert on_heard_times(beatmap, heard) == 1  # 1590 is off every heard time: it goes
    assert [o.time for o in beatmap.hit_objects] == [1000, 1250, 1500] and beatmap.hit_objects[2].hold_end == 1750


def test_two_objects_held_to_one_heard_time_are_one_outside_mania():
    from models.postprocess.written_grid import on_heard_times

    heard = [1320.0, 1750.0]
    objects = [Circle(256, 192, 1320), Circle(265, 183, 1328), Circle(378, 108, 1750)]  # two near the first time
    beatmap = Beatmap(general=General(mode=GameMode.OSU), timing_points=[TimingPoint(1320, 430.0, 4)],
                      hit_objects=objects)
    assert on_heard_times(beatmap, heard) == 1
    assert [o.time for o in beatmap.hit_objects] == [1320, 1750] and (beatmap.hit_objects[0].x, beatmap.hit_objects[0].y) == (256, 192)
    assert not [p for p in find_problems(beatmap) if p.check == "too-close"]
    chord = Beatmap(general=General(mode=GameMode.MANIA), timing_points=[TimingPoint(1320, 430.0, 4)],
                    hit_objects=[Circle(64, 192, 1320), Circle(192, 192, 1324)])
    assert on_heard_times(chord, heard) == 0 and [o.time for o in chord.hit_objects] == [1320, 1320]  # a chord
