"""Render a synthetic song to audio: General MIDI instruments from the TimGM6mb soundfont (shipped in the
pretty_midi wheel) played by tinysoundfont, sample-exact at the notes' times, an optional drum kit on
the beats, then mix level and noise.

Every choice comes from the song's own random generator, so a recipe re-run gives the same audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.synth_score import Song

SAMPLE_RATE = 22050  # Hz; the models read 16 kHz, so nothing they hear is lost
# GM programs (0-based) with clear attacks or steady tone, across families: pianos, chromatic
# percussion, organ, guitars, bass, strings, ensemble, brass, reeds, pipes, synth leads.
PROGRAMS = (0, 1, 2, 4, 6, 8, 11, 12, 13, 16, 19, 21, 24, 25, 26, 27, 32, 33, 40, 41, 42, 45, 46, 48, 52,
            56, 57, 60, 61, 64, 65, 68, 70, 71, 73, 74, 75, 80, 81, 105, 108)
DRUM_CHANNEL = 9
KICK, SNARE, HIHAT = 36, 38, 42


@dataclass(frozen=True)
class Mix:
    """What the generator chose for one song (written into synth.json)."""

    programs: list[int]  # per part
    drums: bool
    noise: str  # "none", "white" or "pink"
    snr_db: float  # signal to noise ratio, when there is noise
    peak: float  # peak level of the mix before noise


def soundfont_path() -> Path:
    import pretty_midi

    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the pretty_midi package ships no TimGM6mb.sf2")
    return path


def choose_mix(song: Song, rng, *, drum_chance: float, noise_chance: float) -> Mix:
    programs = [int(rng.choice(PROGRAMS)) for _ in range(song.parts)]
    drums = bool(rng.random() < drum_chance)
    noise = "none"
    if rng.random() < noise_chance:
        noise = "white" if rng.random() < 0.5 else "pink"
    return Mix(programs, drums, noise, float(rng.uniform(12.0, 40.0)), float(rng.uniform(0.5, 0.95)))


def _drum_hits(song: Song) -> list[tuple[float, int, int]]:
    """(ms, key, velocity): kick on every bar's first beat, snare on the other even beats, hi-hat on all."""
    hits = []
    for index, line in enumerate(song.red_lines):
        stop = song.red_lines[index + 1].time if index + 1 < len(song.red_lines) else song.end
        beat = 0
        while line.time + beat * line.beat_length < stop - 1e-6:
            time = line.time + beat * line.beat_length
            position = beat % line.meter
            hits.append((time, HIHAT, 70))
            if position == 0:
                hits.append((time, KICK, 100))
            elif position % 2 == 1 and line.meter >= 2:
                hits.append((time, SNARE, 80))
            beat += 1
    return hits


def render(song: Song, mix: Mix, rng) -> np.ndarray:
    """Mono float32 at SAMPLE_RATE, from 0 ms to one second past the song's end."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
    sfid = synth.sfload(str(soundfont_path()))
    channels = [c for c in range(16) if c != DRUM_CHANNEL]
    for part, program in enumerate(mix.programs):
        synth.program_select(channels[part % len(channels)], sfid, 0, program)
    if mix.drums:
        synth.program_select(DRUM_CHANNEL, sfid, 128, 0, True)

    def sample(ms: float) -> int:
        return round(ms * SAMPLE_RATE / 1000.0)

    # (sample, order, action): note-offs before note-ons at the same sample, so a repeated key restarts.
    events = []
    for note in song.notes:
        channel = channels[note.part % len(channels)]
        events.append((sample(note.time), 1, ("on", channel, note.pitch, note.velocity)))
        events.append((max(sample(note.end) - 1, sample(note.time) + 1), 0, ("off", channel, note.pitch, 0)))
    if mix.drums:
        for time, key, velocity in _drum_hits(song):
            events.append((sample(time), 1, ("on", DRUM_CHANNEL, key, velocity)))
    events.sort(key=lambda e: (e[0], e[1]))

    total = sample(song.end) + SAMPLE_RATE
    chunks, position = [], 0
    for at, _, (action, channel, key, velocity) in events:
        at = min(at, total)
        if at > position:
            chunks.append(np.frombuffer(synth.generate(at - position), dtype=np.float32))
            position = at
        if action == "on":
            synth.noteon(channel, key, velocity)
        else:
            synth.noteoff(channel, key)
    if total > position:
        chunks.append(np.frombuffer(synth.generate(total - position), dtype=np.float32))
    stereo = np.concatenate(chunks).reshape(-1, 2)
    audio = stereo.mean(axis=1).astype(np.float64)
    peak = float(np.max(np.abs(audio)))
    if peak > 0:
        audio *= mix.peak / peak
    if mix.noise != "none":
        audio += _noise(len(audio), mix.noise, rng) * _rms(audio) / 10 ** (mix.snr_db / 20)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio ** 2))) if len(audio) else 0.0


def _noise(length: int, kind: str, rng) -> np.ndarray:
    white = rng.standard_normal(length)
    if kind == "white":
        return white
    # Pink (1/f power): white noise shaped in the frequency domain, then scaled to unit RMS.
    spectrum = np.fft.rfft(white)
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    pink = np.fft.irfft(spectrum, n=length)
    return pink / (_rms(pink) or 1.0)


def write_audio(path: Path, audio: np.ndarray) -> None:
    """Ogg Vorbis (small; the loader decodes it within 4e-7 of the original's), written atomically."""
    import soundfile

    temp = path.with_name(f".{path.name}.tmp")
    try:
        soundfile.write(str(temp), audio, SAMPLE_RATE, format="OGG", subtype="VORBIS")
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)
