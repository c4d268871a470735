"""Don and kat from the sound under each note, for a taiko map whose model wrote every note in one colour.

Taiko mappers colour by the sound a note stands on: don (red, the drum's face) for the low, full hits
(kick, bass, toms), kat (blue, the rim) for the high, sharp ones (snare, claps, hi-hats). The starter writes
every note as a kat on the README clip (and a published model may collapse on a song unlike its data), which
no taiko map does: the corpus's 24 taiko maps of 50 notes or more are 46-66 % don (median 51 %). So when
nearly all notes share a colour (MOST_ONE_COLOUR), each note's colour is heard again
(`models.audio.sound_height`): the share above 1.5 kHz of what the spectrum gains at the note (the sound
that comes in there), against the same share's median over the map's notes. Notes above the median are
kat, the rest don, so the map is about half and half, as real maps are, and its colours follow the song's
drums. A big note (finish) stays big; drumrolls and swells are kept.
"""

from __future__ import annotations

import numpy as np

from models.audio.sound_height import high_sounding_times
from tokenization.beatmap import Beatmap, Circle, GameMode

MOST_ONE_COLOUR = 0.9  # a map with more of its notes in one colour has lost its colours
MIN_NOTES = 8  # fewer notes say nothing about a map's colours
WHISTLE, FINISH, CLAP = 2, 4, 8
KAT_BITS = WHISTLE | CLAP


def is_kat(circle: Circle) -> bool:
    return bool(circle.hitsound & KAT_BITS)


def colours_collapsed(beatmap: Beatmap) -> bool:
    """Whether a taiko map has nearly all of its notes (circles) in one colour."""
    if beatmap.general.mode is not GameMode.TAIKO:
        return False
    notes = [obj for obj in beatmap.hit_objects if isinstance(obj, Circle)]
    if len(notes) < MIN_NOTES:
        return False
    kats = sum(1 for note in notes if is_kat(note))
    return max(kats, len(notes) - kats) > MOST_ONE_COLOUR * len(notes)


def colour_by_sound(beatmap: Beatmap, samples: np.ndarray, sample_rate: int, playback_delay_ms: float = 0.0) -> None:
    """Give each note (circle) of `beatmap` the colour of the sound under it (in place); see the module docstring.
    `playback_delay_ms`: how much later than in `samples` osu! plays the song (models.audio.playback_delay)."""
    notes = [obj for obj in beatmap.hit_objects if isinstance(obj, Circle)]
    kats = high_sounding_times(samples, sample_rate, [note.time for note in notes], playback_delay_ms)
    for note in notes:
        note.hitsound = (note.hitsound & FINISH) | (CLAP if note.time in kats else 0)
