"""Difficulty settings for a map made on the heard rhythm when the user gives none: as real maps of the asked star
rating have them.

A mapper sets HP, OD, AR and circle size with the difficulty (an Easy slow and forgiving, an Extra fast and
strict) and picks the slider multiplier so that sliders move at the speed the difficulty calls for at the song's
tempo. The model's defaults (HP 5, OD 8, AR 9, CS 4, slider multiplier 1.4) are an Insane's; on a 2.5-star map
they read wrong to any mapper, and at 256 BPM 1.4 makes sliders so fast that a Normal rates as a Hard. ANCHORS
are the medians of the corpus's maps of 50 objects or more by star band (osu!: 72 maps; catch 15, taiko 24,
mania 28), interpolated between the bands' middles; the slider speed (px/ms, slider multiplier x 100 / beat
length) is osu!'s, the corpus's sliders moving 0.30 / 0.39 / 0.48 / 0.54 / 0.58 px/ms in the bands of 2-2.7 /
2.7-4 / 4-5.3 / 5.3-6.5 / 6.5 stars and over (interquartile ranges ~0.1 px/ms wide). A mode's setting that
means nothing in it (AR in taiko or mania, circle size in taiko, the slider speed in taiko and mania) is None:
the model's default stays.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

SLIDER_MULTIPLIER_RANGE = (0.4, 3.6)  # what osu!'s editor takes
PX_PER_BEAT = 100.0  # osu! px a slider moves in a beat at slider multiplier 1

# mode -> (stars, HP, OD, AR, CS, slider px/ms) at the middle of each corpus star band (an Easy from one map)
ANCHORS: dict[int, list[tuple[float, float, float, float | None, float | None, float | None]]] = {
    0: [(1.5, 3.0, 3.0, 3.5, 3.0, 0.28), (2.35, 4.0, 4.5, 5.0, 3.3, 0.30), (3.35, 5.0, 6.0, 7.0, 4.0, 0.39),
        (4.65, 6.0, 8.0, 9.0, 4.0, 0.48), (5.9, 5.9, 8.6, 9.3, 4.0, 0.54), (7.5, 5.2, 9.0, 9.5, 4.0, 0.58)],
    1: [(1.5, 5.5, 4.0, None, None, None), (3.35, 5.0, 6.0, None, None, None), (4.65, 6.0, 6.0, None, None, None),
        (5.9, 5.5, 6.2, None, None, None)],
    2: [(1.5, 3.0, 6.0, 6.0, 2.5, 0.28), (2.35, 4.0, 7.0, 7.0, 3.0, 0.30), (3.35, 5.0, 8.0, 8.0, 3.5, 0.39),
        (4.65, 6.0, 9.1, 9.1, 4.0, 0.48), (5.9, 6.0, 9.4, 9.4, 4.0, 0.54)],
    3: [(1.5, 5.0, 5.0, None, None, None), (2.35, 5.0, 7.0, None, None, None), (3.35, 8.0, 8.0, None, None, None),
        (5.9, 8.2, 7.5, None, None, None)],
}


@dataclass(frozen=True)
class DifficultySettings:
    hp: float
    overall_difficulty: float
    approach_rate: float | None  # None: means nothing in the mode
    circle_size: float | None
    slider_px_per_ms: float | None

    def slider_multiplier(self, beat_ms: float) -> float | None:
        """The slider multiplier that moves sliders at `slider_px_per_ms` at a beat of `beat_ms`."""
        if self.slider_px_per_ms is None or beat_ms <= 0:
            return None
        low, high = SLIDER_MULTIPLIER_RANGE
        return round(min(max(self.slider_px_per_ms * beat_ms / PX_PER_BEAT, low), high), 2)


def settings_for_stars(gamemode: int, stars: float) -> DifficultySettings:
    """The settings of real maps of `stars` in `gamemode`, between its anchors (the end ones beyond them), to 0.1
    (the editor's step; the slider speed to 0.01 px/ms)."""
    anchors = ANCHORS[gamemode]
    index = bisect.bisect_left([anchor[0] for anchor in anchors], stars)
    if index == 0 or index == len(anchors):
        values = anchors[min(index, len(anchors) - 1)][1:]
    else:
        (low, *below), (high, *above) = anchors[index - 1], anchors[index]
        share = (stars - low) / (high - low)
        values = tuple(None if a is None else a + share * (b - a) for a, b in zip(below, above))
    hp, od, ar, cs, speed = (None if v is None else round(v, 2 if k == 4 else 1) for k, v in enumerate(values))
    return DifficultySettings(hp=hp, overall_difficulty=od, approach_rate=ar, circle_size=cs, slider_px_per_ms=speed)
