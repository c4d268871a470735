"""An osu! map of circles only gets sliders over its held sounds (`models.postprocess.held_sliders`), and a
collapsed map's layout turns their bodies along its flow (`models.postprocess.star_fit`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.postprocess.held_sliders import MIN_OBJECTS, REST_BEATS, hold_sliders, sliders_missing
from models.postprocess.star_fit import fit_to_stars
from tokenization.beatmap import (
    Beatmap,
    Circle,
    Difficulty,
    GameMode,
    General,
    PathPoint,
    Slider,
    TimingPoint,
)
from tokenization.timing import TimingIndex

RATE = 16_000
BEAT_MS = 400.0


def song(count: int = 40) -> tuple[np.ndarray, list[float], set[float]]:
    """Notes a beat and a half apart: every other one a tone held for a beat, the rest a short click."""
    t = np.arange(int((count * 1.5 + 4) * BEAT_MS / 1000 * RATE)) / RATE
    out = np.zeros_like(t)
    times = [500 + i * 1.5 * BEAT_MS for i in range(count)]
    held = set(times[::2])
    for time in times:
        a = int(time * RATE / 1000)
        length = int((BEAT_MS if time in held else 25.0) * RATE / 1000)
        out[a:a + length] += np.sin(2 * np.pi * 440 * t[:length]) * (1.0 if time in held else np.exp(-t[:length] / 0.005))
    return (out / np.abs(out).max()).astype(np.float32), times, held


def circles_map(times: list[float]) -> Beatmap:
    objects = [Circle(100 if i % 2 else 400, 100 if i % 2 else 300, int(t)) for i, t in enumerate(times)]
    for i in range(0, len(objects), 4):
        objects[i].new_combo = True
    return Beatmap(general=General(mode=GameMode.OSU), difficulty=Difficulty(slider_multiplier=1.4),
                   timing_points=[TimingPoint(500.0, BEAT_MS, 4)], hit_objects=objects)


def test_the_held_sounds_get_sliders_the_short_ones_stay_circles():
    samples, times, held = song()
    written = circles_map(times)
    assert sliders_missing(written)
    hold_sliders(written, samples, RATE)
    kinds = {obj.time: isinstance(obj, Slider) for obj in written.hit_objects}
    assert all(kinds[int(t)] == (t in held) for t in times[:-1])  # the last has nothing after it
    timing = TimingIndex(written.timing_points)
    for slider, following in zip(written.hit_objects, written.hit_objects[1:]):
        if isinstance(slider, Slider):  # a whole number of half beats, ending at least half a beat early
            duration = timing.slider_duration(slider, 1.4)
            assert duration / BEAT_MS * 2 == round(duration / BEAT_MS * 2) and duration >= BEAT_MS / 2
            assert following.time - (slider.time + duration) >= REST_BEATS * BEAT_MS - 1
    assert not sliders_missing(written)


def test_a_collapsed_map_turns_its_sliders_along_its_flow():
    samples, times, _ = song()
    written = circles_map(times)
    hold_sliders(written, samples, RATE)
    fit_to_stars(written, 2.5, {})
    sliders = [obj for obj in written.hit_objects if isinstance(obj, Slider)]
    directions = {round(math.degrees(math.atan2(s.path[-1].y - s.path[0].y, s.path[-1].x - s.path[0].x))) for s in sliders}
    assert len(sliders) >= 15 and len(directions) > 5  # not all the way they were made
    for slider in sliders:
        assert math.dist((slider.path[0].x, slider.path[0].y), (slider.path[-1].x, slider.path[-1].y)) == \
            pytest.approx(slider.length, abs=2)
        assert all(0 <= p.x <= 512 and 0 <= p.y <= 384 for p in slider.path)


def test_maps_with_sliders_or_of_other_modes_or_too_short_are_left_alone():
    _, times, _ = song()
    with_sliders = circles_map(times)
    for i in range(0, len(times), 5):
        c = with_sliders.hit_objects[i]
        with_sliders.hit_objects[i] = Slider(c.x, c.y, c.time, path=[PathPoint(c.x, c.y), PathPoint(c.x + 70, c.y)],
                                             length=70.0)
    assert not sliders_missing(with_sliders)
    taiko = circles_map(times)
    taiko.general.mode = GameMode.TAIKO
    assert not sliders_missing(taiko)
    assert not sliders_missing(circles_map(times[:MIN_OBJECTS - 1]))
