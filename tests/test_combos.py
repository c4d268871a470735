"""New combos by measure for a map whose model strung its objects into combos far too long
(`models.postprocess.combos`), through the public API and a generated map."""

from __future__ import annotations

import numpy as np

from models.postprocess.combos import LONG_COMBO, SPLIT_COMBO, combos_by_measure, combos_too_long
from tokenization.beatmap import Beatmap, Circle, Difficulty, GameMode, General, Spinner, TimingPoint

BEAT_MS = 500.0  # 120 BPM, 4/4


def written(mode: GameMode, times: list[float], combos_every: int = 0) -> Beatmap:
    objects = [Circle(256, 192, int(t)) for t in times]
    for index, obj in enumerate(objects):
        obj.new_combo = index == 0 or bool(combos_every and index % combos_every == 0)
    return Beatmap(general=General(mode=mode), difficulty=Difficulty(),
                   timing_points=[TimingPoint(1000.0, BEAT_MS, 4)], hit_objects=objects)


def combo_lengths(beatmap: Beatmap) -> list[int]:
    starts = [i for i, obj in enumerate(beatmap.hit_objects) if i == 0 or obj.new_combo]
    return list(np.diff([*starts, len(beatmap.hit_objects)]))


def test_a_map_in_one_long_combo_gets_a_combo_a_measure():
    beats = written(GameMode.OSU, [1000 + i * BEAT_MS for i in range(64)])  # an object a beat, one combo
    assert combos_too_long(beats)
    combos_by_measure(beats)
    assert combo_lengths(beats) == [4] * 16
    assert all(obj.new_combo == ((obj.time - 1000) % (4 * BEAT_MS) == 0) for obj in beats.hit_objects)


def test_sparse_measures_share_a_combo_and_dense_ones_are_split_on_a_beat():
    sparse = written(GameMode.CATCH, [1000 + i * 2 * BEAT_MS for i in range(40)])  # two objects a measure
    combos_by_measure(sparse)
    assert set(combo_lengths(sparse)) == {4}  # two measures a combo: a measure of two is too short
    dense = written(GameMode.OSU, [1000 + i * BEAT_MS / 4 for i in range(160)])  # sixteenths
    combos_by_measure(dense)
    assert set(combo_lengths(dense)) == {SPLIT_COMBO}  # each measure in halves
    spun = written(GameMode.OSU, [1000 + i * BEAT_MS for i in range(30)])
    spun.hit_objects[10] = Spinner(256, 192, spun.hit_objects[10].time, spinner_end=spun.hit_objects[10].time + 400)
    combos_by_measure(spun)
    assert spun.hit_objects[10].new_combo and spun.hit_objects[11].new_combo


def test_maps_with_combos_of_their_own_or_of_other_modes_are_left_alone():
    phrased = written(GameMode.OSU, [1000 + i * BEAT_MS for i in range(64)], combos_every=6)
    assert not combos_too_long(phrased)
    assert not combos_too_long(written(GameMode.MANIA, [1000 + i * BEAT_MS for i in range(64)]))
    assert not combos_too_long(written(GameMode.OSU, [1000 + i * BEAT_MS for i in range(LONG_COMBO)]))
