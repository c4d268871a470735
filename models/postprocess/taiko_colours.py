"""Don and kat from the sound under each note, for a taiko map whose model wrote every note in one colour.

Taiko mappers colour by the sound a note stands on: don (red, the drum's face) for the low, full hits
(kick, bass, toms), kat (blue, the rim) for the high, sharp ones (snare, claps, hi-hats). The starter writes
every note as a kat on the README clip (and a published model may collapse on a song unlike its data), which
no taiko map does: the corpus's 24 taiko maps of 50 notes or more are 46-66 % don (median 51 %). So when
nearly all notes share a colour (MOST_ONE_COLOUR), each note's colour is heard again: the share above
SPLIT_HZ of what the spectrum gains at the note (the sound that comes in there), against the same share's
median over the map's notes. Notes above the median are kat, the rest don, so the map is about half and half, as real maps are,
and its colours follow the song's drums. A big note (finish) stays big; drumrolls and swells are kept.
"""

from __future__ import annotations

import numpy as np

from tokenization.beatmap import Beatmap, Circle, GameMode

MOST_ONE_COLOUR = 0.9  # a map with more of its notes in one colour has lost its colours
MIN_NOTES = 8  # fewer notes say nothing about a map's colours
SPLIT_HZ = 1500.0  # a kick's or a tom's body lies below, a snare's crack and a hi-hat above
WINDOW_MS = 40.0  # the sound a note stands on: its attack and a little of its body
BEFORE_MS = 10.0  # the window starts this long before the note (a note is put at or a little before the attack)
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
    kats = kat_times(samples, sample_rate, [note.time for note in notes], playback_delay_ms)
    for note in notes:
        note.hitsound = (note.hitsound & FINISH) | (CLAP if note.time in kats else 0)


def kat_times(samples: np.ndarray, sample_rate: int, times_ms: list[float], playback_delay_ms: float = 0.0) -> set[float]:
    """Those of `times_ms` (as osu! plays the song) whose sound is higher than the median's: the kats."""
    if not times_ms:
        return set()
    highs = np.array([_high_share(samples, sample_rate, time - playback_delay_ms) for time in times_ms])
    split = float(np.median(highs))
    return {time for time, high in zip(times_ms, highs) if high > split}


def _high_share(samples: np.ndarray, sample_rate: int, time_ms: float) -> float:
    """Share above SPLIT_HZ of what the spectrum gains in the WINDOW_MS at `time_ms` over the WINDOW_MS before
    it (the new sound, not what was already sounding); 0.5 where nothing comes in."""
    length = int(round(WINDOW_MS * sample_rate / 1000.0))
    start = int(round((time_ms - BEFORE_MS) * sample_rate / 1000.0))
    if start - length < 0 or start + length > len(samples) or length < 8:
        return 0.5
    taper = np.hanning(length)
    before, after = (np.abs(np.fft.rfft(np.asarray(samples[a:a + length], dtype=np.float64) * taper)) ** 2
                     for a in (start - length, start))
    gained = np.maximum(after - before, 0.0)
    total = float(gained.sum())
    if total <= 0:
        return 0.5
    frequencies = np.fft.rfftfreq(length, 1.0 / sample_rate)
    return float(gained[frequencies >= SPLIT_HZ].sum()) / total
