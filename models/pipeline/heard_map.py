"""The finishing steps of a map made on the heard rhythm (the bundled starter, or `--rhythm audio`): its density was
chosen on a stand-in map before the model chose what goes on each time, so the written map is held to those
times on its written grid, given what the starter cannot write itself (taiko colours, osu! sliders, combos by
measure, hitsounds; see each module), and brought to the asked star rating as a mapper would (`models.postprocess.star_fit`,
which also lays out anew a map whose model put its objects on a few spots or back and forth)."""

from __future__ import annotations

import numpy as np


def finish_heard_map(beatmap, object_times: list[float], strengths: dict[float, float], samples: np.ndarray,
                     playback_delay_ms: float, stars: float | None, *, hitsounded: bool = True) -> None:
    """Finish `beatmap` (in place). `object_times`: the heard times its objects were held to; `strengths`: each
    candidate time's onset strength; `samples`: the song at models.audio.loading's rate, which osu! plays
    `playback_delay_ms` later; `stars`: the rating asked (None: the heard rhythm's default); `hitsounded`: False where
    the user asked for no hitsounds."""
    from models.audio.loading import SAMPLE_RATE_HZ
    from models.generation.audio_rhythm import DEFAULT_STARS
    from models.postprocess.combos import combos_by_measure, combos_too_long
    from models.postprocess.held_sliders import hold_sliders, sliders_missing
    from models.postprocess.hitsounds import hitsound_by_beat, hitsounds_missing
    from models.postprocess.star_fit import fit_to_stars
    from models.postprocess.taiko_colours import colour_by_sound, colours_collapsed
    from models.postprocess.written_grid import on_heard_times, snap_to_written_grid

    on_heard_times(beatmap, object_times)
    snap_to_written_grid(beatmap)
    if colours_collapsed(beatmap):  # a taiko map in one colour: each note's from the sound under it
        colour_by_sound(beatmap, samples, SAMPLE_RATE_HZ, playback_delay_ms)
    if sliders_missing(beatmap):  # an osu! map of circles only: sliders over its held sounds
        hold_sliders(beatmap, samples, SAMPLE_RATE_HZ, playback_delay_ms)
    if combos_too_long(beatmap):  # osu!, catch: a combo a measure, as mappers phrase them
        combos_by_measure(beatmap)
    if hitsounded and hitsounds_missing(beatmap):  # osu!, catch: claps on the backbeat, finishes on the strongest downbeats
        hitsound_by_beat(beatmap, strengths)
    fit_to_stars(beatmap, stars if stars is not None else DEFAULT_STARS, strengths)
