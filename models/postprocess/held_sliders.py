"""Sliders over held sounds, for an osu! map whose model wrote (nearly) none.

Real osu! maps are about half sliders (the corpus's 72 osu! maps of 50 objects or more: median 38-55 % by
star band, 17-79 % in all), and a mapper holds a slider over a sound that goes on (a sung note, a
synth, a bass) and taps a circle on one that is gone at once (a drum). The starter writes circles only:
its synthetic training maps hold a slider only over a note held a beat or more with room after it, which
the heard rhythm rarely leaves. So in a map of nearly only circles (`sliders_missing`), each circle followed by at least MIN_GAP_BEATS of nothing may hold a slider that ends REST_BEATS before the
next object (whole half beats, at most MAX_SLIDER_BEATS): the half of them whose sound goes on the most
(the loudness over the slider's span against its first HEAD_MS, at or above the median of those circles)
become sliders; the others stay circles. The slider is straight, as long as the slider velocity makes it for its
time; the layout (`models.postprocess.star_fit`) turns it along the map's flow.
"""

from __future__ import annotations

import math

import numpy as np

from tokenization.beatmap import Beatmap, Circle, CurveType, GameMode, PathPoint, Slider

MIN_OBJECTS = 20  # fewer objects say nothing about a map's sliders
MOST_CIRCLES = 0.97  # a map with more of its objects circles has no sliders to speak of
MIN_GAP_BEATS = 1.0
REST_BEATS = 0.5
MAX_SLIDER_BEATS = 1.0  # a beat: 140 px at the usual slider multiplier; longer bodies cross the playfield
STEP_BEATS = 0.5
HEAD_MS = 30.0  # the attack: what comes after it says whether the sound is held
PX_PER_BEAT = 100.0  # osu! px a slider moves in a beat at slider velocity 1, times the slider multiplier


def sliders_missing(beatmap: Beatmap) -> bool:
    """Whether an osu! map of MIN_OBJECTS or more has (nearly) only circles."""
    objects = beatmap.hit_objects
    if beatmap.general.mode is not GameMode.OSU or len(objects) < MIN_OBJECTS:
        return False
    return sum(isinstance(obj, Circle) for obj in objects) > MOST_CIRCLES * len(objects)


def hold_sliders(beatmap: Beatmap, samples: np.ndarray, sample_rate: int, playback_delay_ms: float = 0.0) -> None:
    """Turn the circles over the most held sounds into sliders (in place); see the module docstring.
    `playback_delay_ms`: how much later than in `samples` osu! plays the song (models.audio.playback_delay)."""
    from tokenization.timing import TimingIndex

    timing = TimingIndex(beatmap.timing_points)
    objects = beatmap.hit_objects
    room = []  # (index, slider beats, how held its sound is)
    for index, (obj, following) in enumerate(zip(objects, objects[1:])):
        beat_ms = timing.beat_length_at(obj.time)
        gap_beats = (following.time - obj.time) / beat_ms
        if not isinstance(obj, Circle) or gap_beats < MIN_GAP_BEATS:
            continue
        beats = min(math.floor((gap_beats - REST_BEATS) / STEP_BEATS) * STEP_BEATS, MAX_SLIDER_BEATS)
        if beats >= STEP_BEATS:
            start = obj.time - playback_delay_ms
            room.append((index, beats, _held(samples, sample_rate, start, start + beats * beat_ms)))
    if not room:
        return
    split = float(np.median([held for _, _, held in room]))
    for index, beats, held in room:
        if held >= split and held > 0:  # the more held half (a silence holds nothing)
            circle = objects[index]
            length = beats * PX_PER_BEAT * beatmap.difficulty.slider_multiplier * timing.slider_velocity_at(circle.time)
            objects[index] = Slider(circle.x, circle.y, circle.time, new_combo=circle.new_combo,
                                    combo_skip=circle.combo_skip, hitsound=circle.hitsound, sample=circle.sample,
                                    path=[PathPoint(circle.x, circle.y, CurveType.LINEAR),
                                          PathPoint(round(circle.x + length), circle.y)],
                                    slides=1, length=length)


def _held(samples: np.ndarray, sample_rate: int, start_ms: float, end_ms: float) -> float:
    """The sound's loudness (RMS) from HEAD_MS after `start_ms` to `end_ms`, against its first HEAD_MS."""
    def rms(a_ms: float, b_ms: float) -> float:
        a, b = max(0, int(a_ms * sample_rate / 1000.0)), max(0, int(b_ms * sample_rate / 1000.0))
        part = np.asarray(samples[a:b], dtype=np.float64)
        return float(np.sqrt(np.mean(part ** 2))) if len(part) else 0.0

    head = rms(start_ms, start_ms + HEAD_MS)
    return rms(start_ms + HEAD_MS, end_ms) / head if head > 0 else 0.0
