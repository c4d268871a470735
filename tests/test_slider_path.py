"""Slider geometry: each curve type on hand-checked cases, and every corpus slider fitted to its length."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.conftest import corpus_beatmaps, require_shared
from tokenization import parse_beatmap, read_beatmap
from tokenization.beatmap import CurveType, PathPoint, Slider
from tokenization.slider_path import (
    SliderPath,
    path_segments,
    position_at_time,
    slider_end_position,
    tick_times,
)

B, P, C, L = CurveType.BEZIER, CurveType.PERFECT, CurveType.CATMULL, CurveType.LINEAR


def path(kind, *points, length=None):
    control = [PathPoint(*points[0], kind)] + [PathPoint(*p) for p in points[1:]]
    return SliderPath.from_points(control, length)


def test_straight_line_cut_and_extended():
    assert path(L, (0, 0), (100, 0), length=50).end_position().tolist() == [50, 0]
    assert path(L, (0, 0), (100, 0), length=150).end_position().tolist() == [150, 0]
    assert path(B, (0, 0), (30, 40), length=100).end_position() == pytest.approx([60, 80])


def test_quarter_circle_arc_length_and_midpoint():
    r = 100.0
    quarter = math.pi * r / 2
    p = path(P, (100, 0), (100 * math.cos(math.pi / 4), 100 * math.sin(math.pi / 4)), (0, 100), length=quarter)
    assert p.distance == pytest.approx(quarter)
    assert np.linalg.norm(p.position_at(0.5) - [100 * math.cos(math.pi / 4), 100 * math.sin(math.pi / 4)]) < 0.2
    assert all(abs(np.linalg.norm(q) - r) < 0.15 for q in p.points)


def test_collinear_perfect_curve_falls_back_to_a_line():
    p = path(P, (0, 0), (50, 0), (100, 0), length=100)
    assert p.end_position() == pytest.approx([100, 0])


@pytest.mark.parametrize("points", [[(0, 0), (50, 50)], [(0, 0), (50, 50), (100, 0), (150, 50)]])
def test_perfect_curve_with_other_point_counts_is_bezier(points):
    control = [PathPoint(*points[0], P)] + [PathPoint(*q) for q in points[1:]]
    assert [s.kind for s in path_segments(control)] == [B]


def test_red_anchor_splits_bezier_into_sharp_segments():
    control = [PathPoint(0, 0, B), PathPoint(100, 0), PathPoint(100, 0), PathPoint(100, 100)]
    segments = path_segments(control)
    assert len(segments) == 2
    p = SliderPath.from_points(control, 200)
    assert p.distance == pytest.approx(200) and p.position_at(0.5) == pytest.approx([100, 0])


def test_bezier_is_smooth_and_close_to_the_true_curve():
    p = path(B, (0, 0), (100, 200), (200, 0))
    t = np.linspace(0, 1, 1001)[:, None]
    true = (1 - t) ** 2 * np.array([0, 0]) + 2 * (1 - t) * t * np.array([100, 200]) + t ** 2 * np.array([200, 0])
    true_length = float(np.sum(np.linalg.norm(np.diff(true, axis=0), axis=1)))
    assert p.distance == pytest.approx(true_length, abs=0.5)
    assert p.position_at(0.5) == pytest.approx([100, 100], abs=0.5)


def test_catmull_passes_through_its_points():
    p = path(C, (0, 0), (100, 50), (200, 0))
    assert min(np.linalg.norm(p.points - [100, 50], axis=1)) < 1e-9


def test_zero_length_and_single_point_paths():
    assert path(L, (10, 20)).end_position().tolist() == [10, 20]
    assert path(L, (0, 0), (100, 0), length=0).distance == 100  # no length given: the path's own


def test_repeats_alternate_direction_and_ticks():
    bm = parse_beatmap("osu file format v14\n[Difficulty]\nSliderMultiplier:1\nSliderTickRate:1\n"
                       "[TimingPoints]\n0,500,4,1,0,100,1,0\n[HitObjects]\n0,0,1000,2,0,L|200:0,2,200\n")
    slider = bm.hit_objects[0]
    assert slider.duration == 2000
    assert position_at_time(slider, 1500) == pytest.approx((100, 0))
    assert position_at_time(slider, 2500) == pytest.approx((100, 0))
    assert slider_end_position(slider) == (0, 0)
    assert tick_times(slider, 500, 1) == pytest.approx([1500, 2500])


def test_every_corpus_slider_fits_its_length():
    require_shared("corpus")
    failures = []
    for file in corpus_beatmaps():
        for obj in read_beatmap(file).hit_objects:
            if not isinstance(obj, Slider):
                continue
            p = SliderPath.of(obj)
            reachable = len(obj.path) > 1 and any((q.x, q.y) != (obj.x, obj.y) for q in obj.path)
            if not np.isfinite(p.points).all():
                failures.append(f"{file.name} @{obj.time}: non-finite points")
            elif obj.length > 0 and reachable and abs(p.distance - obj.length) > 1:
                failures.append(f"{file.name} @{obj.time}: length {p.distance:.2f} != {obj.length:.2f}")
    assert not failures, "\n".join(failures[:50])
