"""Objects from a generation's contexts, read the way the published models' own inference reads them:
every context merged by time, untimed objects at 0 ms, distance-only positions drawn with the seed,
positions read from the map context only."""

from __future__ import annotations

import math

import pytest

from models.postprocess.build import BeatmapInfo, build_beatmap
from profiles import load_profile
from tokenization.beatmap import Circle, TimingPoint
from tokenization.events import ContextType, Event, EventType

E = EventType
PROFILE = load_profile("v29")  # types first, distances and positions
RED = [TimingPoint(0.0, 500.0)]
CENTRE_CELL = 444  # the 32-px cell at (240, 176)-(272, 208) of v29's grid, which starts at (-256, -256)


def build(contexts, seed=0):
    beatmap, report = build_beatmap(contexts, PROFILE.tokenizer, BeatmapInfo(), reference_timing=RED,
                                    types_first=True, resnap=False, song_ms=10_000, seed=seed)
    return beatmap.hit_objects, report


def circle(time=None, *fields):
    return [Event(E.CIRCLE)] + ([Event(E.TIME_SHIFT, time)] if time is not None else []) + list(fields)


def test_a_circle_the_model_wrote_into_the_kiai_context_is_an_object_too():
    objects, _ = build({ContextType.KIAI: circle(1000), ContextType.MAP: circle(2000)})
    assert [o.time for o in objects] == [1000, 2000] and all(isinstance(o, Circle) for o in objects)


def test_an_object_without_a_time_shift_is_at_zero_and_leading_fields_belong_to_the_first_group():
    objects, report = build({ContextType.MAP: [Event(E.NEW_COMBO)] + circle(None)})
    assert [(o.time, o.new_combo) for o in objects] == [(0, True)] and report.dropped_groups == 0


def test_a_distance_without_a_position_is_a_seeded_point_that_far_from_the_last_object():
    # the first circle sits near the centre; the second has only a distance
    first = circle(1000, Event(E.POS, CENTRE_CELL))
    second = circle(1500, Event(E.DISTANCE, 120))
    objects, _ = build({ContextType.MAP: first + second}, seed=3)
    a, b = objects
    assert math.dist((a.x, a.y), (b.x, b.y)) == pytest.approx(120, abs=1.0)
    assert 0 <= b.x <= 512 and 0 <= b.y <= 384 and b.x == round(b.x)
    again, _ = build({ContextType.MAP: first + second}, seed=3)
    assert (again[1].x, again[1].y) == (b.x, b.y)
    others = {(build({ContextType.MAP: first + second}, seed=s)[0][1].x) for s in range(8)}
    assert len(others) > 1  # the seed chooses the point


def test_positions_written_outside_the_map_context_are_not_read():
    objects, _ = build({ContextType.MAP: circle(1000, Event(E.POS, CENTRE_CELL)),
                        ContextType.KIAI: circle(2000, Event(E.POS, 5))})
    assert (objects[1].x, objects[1].y) == (objects[0].x, objects[0].y)  # the last position, not cell 5


def test_a_hitsound_without_its_volume_still_sounds():
    objects, _ = build({ContextType.MAP: circle(1000, Event(E.HITSOUND, 9))})  # whistle, soft normal set
    assert objects[0].hitsound == 2 and objects[0].sample.normal_set == 2
