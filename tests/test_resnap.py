"""Resnapping puts 10 ms-quantised times back on their beat grid."""

from __future__ import annotations

import math

import pytest

from models.timing.resnap import Grid, resnap_time


def quantise(t: float, window_start: float = 0.0) -> float:
    """What a decoded time looks like: 10 ms steps relative to the window, plus the half-step bias."""
    return window_start + math.floor((t - window_start) / 10) * 10 + 5


@pytest.mark.parametrize("bpm,offset", [(120, 250), (174, 1032), (193.5, 77)])
@pytest.mark.parametrize("divisor", [1, 2, 3, 4, 6, 8])
def test_quantised_ticks_return_to_the_grid(bpm, offset, divisor):
    grid = Grid(offset, 60000 / bpm)
    step = grid.ms_per_beat / divisor
    for index in range(1, 200):
        if divisor > 1 and index % divisor == 0:
            continue  # a whole beat would carry divisor 1
        if divisor in (4, 8) and index % 2 == 0:
            continue  # lies on a coarser grid
        if divisor == 6 and (index % 2 == 0 or index % 3 == 0):
            continue
        exact = int(offset + index * step)
        assert resnap_time(quantise(exact), divisor, [grid]) == exact


def test_unsnapped_and_no_timing_are_left_alone():
    assert resnap_time(1234.5, 0, [Grid(0, 500)]) == 1234.5
    assert resnap_time(1234.5, 4, []) == 1234.5


def test_time_just_before_a_new_red_line_may_snap_to_it():
    grids = [Grid(0, 500), Grid(10_003, 400)]
    assert resnap_time(10_005, 1, grids) == 10_003
    assert resnap_time(9_995, 1, grids) in (10_000, 10_003)
