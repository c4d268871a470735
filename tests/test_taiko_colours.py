"""A taiko map written in one colour gets don and kat from the sound under each note
(`models.postprocess.taiko_colours`): dons on the kicks, kats on the snares, big notes kept big."""

from __future__ import annotations

import numpy as np

from models.postprocess.taiko_colours import FINISH, colour_by_sound, colours_collapsed, is_kat
from tokenization.beatmap import Beatmap, Circle, GameMode, General, TimingPoint

RATE = 16_000
BEAT_MS = 400.0


def drums(beats: int = 40) -> tuple[np.ndarray, list[float], list[float]]:
    """A kick (60 Hz thump) on every beat and a snare (noise crack) on every off-beat, over a quiet pad."""
    rng = np.random.default_rng(0)
    seconds = (beats + 2) * BEAT_MS / 1000
    t = np.arange(int(seconds * RATE)) / RATE
    out = 0.05 * np.sin(2 * np.pi * 220 * t)  # something always sounding: only what comes in counts
    hit = np.arange(int(0.1 * RATE)) / RATE
    kick = np.sin(2 * np.pi * 60 * hit) * np.exp(-hit / 0.04)
    snare = rng.standard_normal(len(hit)) * np.exp(-hit / 0.02) * 0.5
    kicks = [500 + i * BEAT_MS for i in range(beats)]
    snares = [k + BEAT_MS / 2 for k in kicks]
    for times, sound in ((kicks, kick), (snares, snare)):
        for time in times:
            index = int(time * RATE / 1000)
            out[index:index + len(sound)] += sound
    return (out / np.abs(out).max()).astype(np.float32), kicks, snares


def taiko(times: list[float], hitsound: int) -> Beatmap:
    return Beatmap(general=General(mode=GameMode.TAIKO), timing_points=[TimingPoint(500.0, BEAT_MS, 4)],
                   hit_objects=[Circle(256, 192, int(t), hitsound=hitsound) for t in sorted(times)])


def test_a_one_colour_map_gets_dons_on_the_kicks_and_kats_on_the_snares():
    samples, kicks, snares = drums()
    written = taiko(kicks + snares, hitsound=8)  # every note a kat, as the starter writes them
    written.hit_objects[0].hitsound |= FINISH  # a big note
    assert colours_collapsed(written)
    colour_by_sound(written, samples, RATE)
    colour = {note.time: is_kat(note) for note in written.hit_objects}
    assert not any(colour[int(t)] for t in kicks) and all(colour[int(t)] for t in snares)
    assert written.hit_objects[0].hitsound & FINISH  # still big
    assert not colours_collapsed(written)


def test_a_map_in_two_colours_or_of_another_mode_is_left_alone():
    _, kicks, snares = drums(10)
    mixed = taiko(kicks, hitsound=0)
    mixed.hit_objects += [Circle(256, 192, int(t), hitsound=8) for t in snares]
    assert not colours_collapsed(mixed)
    osu = taiko(kicks + snares, hitsound=8)
    osu.general.mode = GameMode.OSU
    assert not colours_collapsed(osu)
    assert not colours_collapsed(taiko(kicks[:4], hitsound=8))  # too few notes to say
