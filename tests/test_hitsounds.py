"""Hitsounds by the beat for a map whose model wrote none (`models.postprocess.hitsounds`)."""

from __future__ import annotations

from models.postprocess.hitsounds import CLAP, FINISH, hitsound_by_beat, hitsounds_missing
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

BEAT_MS = 500.0


def written(mode: GameMode = GameMode.OSU) -> tuple[Beatmap, dict[float, float]]:
    """Eight 4/4 measures of half-beat objects (a slider on each measure's second beat); the downbeat of the fifth
    measure loudest."""
    objects, strengths = [], {}
    for i in range(64):
        time = 1000 + i * BEAT_MS / 2
        if i % 8 == 2:
            objects.append(Slider(100, 100, time, path=[PathPoint(100, 100), PathPoint(160, 100)], length=60.0))
        else:
            objects.append(Circle(256, 192, time))
        strengths[time] = 3.0 if i == 32 else 1.0 + 0.01 * (i % 3)
    return Beatmap(general=General(mode=mode), difficulty=Difficulty(),
                   timing_points=[TimingPoint(1000.0, BEAT_MS, 4)], hit_objects=objects), strengths


def sounds(obj) -> int:
    return obj.edge_sounds[0].hitsound if isinstance(obj, Slider) and obj.edge_sounds else obj.hitsound


def test_claps_on_the_backbeat_and_finishes_on_the_strongest_downbeats():
    beatmap, strengths = written()
    assert hitsounds_missing(beatmap)
    hitsound_by_beat(beatmap, strengths)
    for index, obj in enumerate(beatmap.hit_objects):
        beat = index / 2
        backbeat = beat.is_integer() and int(beat) % 4 in (1, 3)
        assert bool(sounds(obj) & CLAP) == backbeat, index
        assert bool(sounds(obj) & FINISH) == (index in (0, 32)), index  # the first object and the loud downbeat
    slider = beatmap.hit_objects[2]  # on the second beat: its head claps, its edges written whole
    assert len(slider.edge_sounds) == 2 and sounds(slider) == CLAP and slider.edge_sounds[1].hitsound == 0
    assert not hitsounds_missing(beatmap)


def test_maps_with_hitsounds_or_of_other_modes_are_left_alone():
    beatmap, _ = written()
    beatmap.hit_objects[10].hitsound = 2  # a whistle the model wrote
    assert not hitsounds_missing(beatmap)
    assert not hitsounds_missing(written(GameMode.TAIKO)[0]) and not hitsounds_missing(written(GameMode.MANIA)[0])


def test_a_map_made_on_the_heard_rhythm_is_hitsounded_unless_asked_not_to_be():
    import numpy as np

    from models.pipeline.heard_map import finish_heard_map

    silence = np.zeros(16_000 * 40, dtype=np.float32)
    for hitsounded in (True, False):
        beatmap, strengths = written()
        times = sorted(strengths)
        finish_heard_map(beatmap, times, strengths, silence, 0.0, None, hitsounded=hitsounded)
        assert hitsounds_missing(beatmap) is not hitsounded
