"""Timing fitting recovers known BPMs, offsets, meters and tempo changes from beat markers."""

from __future__ import annotations

import numpy as np
import pytest

from models.timing.fit import BeatMarker, MarkerKind, fit_timing


def markers_for(offset: float, bpm: float, beats: int, meter: int = 4, first_kind=MarkerKind.TIMING_POINT,
                jitter_ms: float = 0.0, seed: int = 0, start_beat: int = 0):
    rng = np.random.default_rng(seed)
    mpb = 60000.0 / bpm
    out = []
    for k in range(start_beat, start_beat + beats):
        t = offset + k * mpb + (rng.uniform(-jitter_ms, jitter_ms) if jitter_ms else 0.0)
        kind = MarkerKind.MEASURE if k % meter == 0 else MarkerKind.BEAT
        out.append(BeatMarker(t, kind))
    out[0] = BeatMarker(out[0].time, first_kind if out[0].kind is MarkerKind.MEASURE else out[0].kind)
    return out


@pytest.mark.parametrize("bpm,offset", [(120, 250), (174, 1032), (128.5, 77), (95.25, 3000), (200, 12)])
def test_single_tempo_is_recovered(bpm, offset):
    lines = fit_timing(markers_for(offset, bpm, 64, jitter_ms=4))
    assert len(lines) == 1
    assert abs(lines[0].bpm - bpm) < 1e-6
    assert abs(lines[0].offset - offset) <= 1
    assert lines[0].meter == 4


def test_tempo_change_and_meter():
    first = markers_for(500, 150, 48)
    change_at = first[-1].time + 400.0
    second = markers_for(change_at, 180, 60, meter=3)
    lines = fit_timing(first + second)
    assert [round(line.bpm, 6) for line in lines] == [150, 180]
    assert abs(lines[0].offset - 500) <= 1 and abs(lines[1].offset - change_at) <= 1
    assert [line.meter for line in lines] == [4, 3]


def test_change_without_timing_point_marker_is_split():
    first = markers_for(100, 120, 40)
    change_at = first[-1].time + 500.0
    second = markers_for(change_at, 140, 40, first_kind=MarkerKind.MEASURE)
    lines = fit_timing(first + second)
    assert [round(line.bpm, 6) for line in lines] == [120, 140]
    assert abs(lines[1].offset - change_at) <= 1


def test_pickup_beats_move_the_line_back_by_whole_bars():
    markers = markers_for(1000, 120, 32, first_kind=MarkerKind.MEASURE, start_beat=2)  # starts mid-bar
    lines = fit_timing(markers)
    assert len(lines) == 1
    assert abs(lines[0].offset - 1000) <= 1  # the bar line before the first beat


def test_too_few_markers_give_no_timing():
    assert fit_timing([]) == []
    assert fit_timing([BeatMarker(100.0, MarkerKind.TIMING_POINT)]) == []


def test_degenerate_markers_give_no_bogus_lines():
    piled = [BeatMarker(1000.0, MarkerKind.BEAT)] * 5 + [BeatMarker(1000.0, MarkerKind.MEASURE)]
    assert fit_timing(piled) == []
    mixed = piled + markers_for(5000, 120, 16)
    lines = fit_timing(mixed)
    assert all(line.ms_per_beat > 0 for line in lines)
