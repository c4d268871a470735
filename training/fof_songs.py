"""Frets on Fire songs -> osu!mania and osu!taiko maps with exact timing, for training data.

A Frets on Fire song folder holds `song.ini` (name, artist, optional `delay` in ms), `notes.mid` (the
tempo map and the guitar chart: keys 60-64 Supaeasy, 72-76 Easy, 84-88 Medium, 96-100 Amazing, one key
per fret) and its recording split into stems (`song.ogg`, `guitar.ogg`, sometimes `rhythm.ogg`). These are
real recordings with hand-charted notes, which the synthetic songs lack; Debian ships two redistributable
sets (`fretsonfire-songs-muldjord`, CC-BY-SA 3.0; `fretsonfire-songs-sectoid`, GPL).

The chart becomes a `Song` (red lines from the MIDI tempo map, notes from the hardest chart with the fret
as pitch) and goes through the same map rules as the synthetic songs (`synth_maps.song_beatmaps`), kept
to mania (five columns, one per fret) and taiko: a guitar chart says nothing about cursor movement.
"""

from __future__ import annotations

import configparser
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from tokenization.beatmap import Beatmap, GameMode
from training.synth_score import Note, RedLine, Song

CHART_FILE, INI_FILE = "notes.mid", "song.ini"
STEMS = ("song.ogg", "guitar.ogg", "rhythm.ogg")  # mixed into one track, as the game plays them together
DIFFICULTY_BASES = (96, 84, 72, 60)  # Amazing, Medium, Easy, Supaeasy: first key of five frets
FRETS = 5
MODES = (GameMode.MANIA, GameMode.TAIKO)
CREATOR = "mapper fof"
TAGS = ["fretsonfire", "ai-free", "mapper-fof"]


def find_songs(src: Path) -> list[Path]:
    """Every folder under `src` (itself included) holding a chart, an ini and a `song.ogg`, sorted."""
    found = [p.parent for p in src.rglob(CHART_FILE)
             if (p.parent / INI_FILE).is_file() and (p.parent / STEMS[0]).is_file()]
    return sorted(found)


def read_ini(folder: Path) -> dict[str, str]:
    """The `[song]` section; FoF writes it by hand, so duplicates and odd lines are tolerated."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string((folder / INI_FILE).read_text(encoding="utf-8", errors="replace"))
    return dict(parser["song"]) if parser.has_section("song") else {}


def read_chart(folder: Path, title: str, artist: str, delay_ms: float = 0.0) -> Song:
    """The tempo map and the hardest chart of `notes.mid` as a Song (times in ms of the audio)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(folder / CHART_FILE))
    keys = [n for inst in midi.instruments for n in inst.notes]
    base = next((b for b in DIFFICULTY_BASES if any(b <= n.pitch < b + FRETS for n in keys)), None)
    if base is None:
        raise ValueError("no guitar chart notes (MIDI keys 60-64, 72-76, 84-88 or 96-100)")
    notes = sorted((Note(n.start * 1000 + delay_ms, n.end * 1000 + delay_ms, n.pitch - base, n.velocity, 0)
                   for n in keys if base <= n.pitch < base + FRETS), key=lambda n: (n.time, n.pitch))
    changes, bpms = midi.get_tempo_changes()
    meters = [(s.time, s.numerator) for s in midi.time_signature_changes]
    red_lines, tempo = [], []
    for time_s, bpm in zip(changes, bpms):
        meter = next((m for t, m in reversed(meters) if t <= time_s + 1e-6), 4)
        beat = 60000.0 / float(bpm)
        if red_lines and math.isclose(red_lines[-1].beat_length, beat) and red_lines[-1].meter == meter:
            continue
        red_lines.append(RedLine(float(time_s) * 1000 + delay_ms, beat, meter))
        tempo.append((float(time_s) * 1000 + delay_ms, beat))
    return Song(piece=f"fof/{folder.name}", title=title, composer=artist, notes=notes, red_lines=red_lines,
                end=max(n.end for n in notes), parts=1, tempo=tempo)


def mix_stems(folder: Path, sample_rate: int) -> np.ndarray:
    """The stems summed (each at its own level, as recorded) and scaled to a peak of 0.9."""
    from models.audio.loading import load_audio

    stems = [load_audio(folder / name, sample_rate=sample_rate, normalize=False)
             for name in STEMS if (folder / name).is_file()]
    mixed = np.zeros(max(len(s) for s in stems), dtype=np.float32)
    for stem in stems:
        mixed[:len(stem)] += stem
    peak = float(np.max(np.abs(mixed))) if mixed.size else 0.0
    return mixed * (0.9 / peak) if peak > 0 else mixed


def song_maps(folder: Path, audio_file: str) -> tuple[Song, list[Beatmap]]:
    """The song's chart and its mania and taiko maps (Full and Beats), tagged as Frets on Fire data."""
    from training.synth_maps import song_beatmaps

    ini = read_ini(folder)
    title = ini.get("name", "").strip() or folder.name
    artist = ini.get("artist", "").strip() or "Unknown"
    try:
        delay = float(ini.get("delay", "0") or 0)
    except ValueError:
        delay = 0.0
    song = read_chart(folder, title, artist, delay)
    rng = np.random.default_rng(0)  # mania and taiko rules draw nothing; fixed anyway
    maps = []
    for beatmap in song_beatmaps(song, rng, audio_file, keys=FRETS):
        if beatmap.general.mode not in MODES:
            continue
        beatmap.metadata = replace(beatmap.metadata, creator=CREATOR, source="Frets on Fire",
                                   tags=[*TAGS, "song:" + folder.name.replace(" ", "_")])
        maps.append(beatmap)
    return song, maps


def _write_ogg(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Ogg Vorbis written in blocks: libsndfile crashes encoding a few minutes of audio in one call."""
    import soundfile

    with soundfile.SoundFile(str(path), "w", sample_rate, 1, format="OGG", subtype="VORBIS") as out:
        for start in range(0, len(audio), 1 << 16):
            out.write(audio[start:start + (1 << 16)])


def build_fof_dataset(src: Path, out: Path, *, progress=None):
    """Stage every FoF song under `src` as an .osu folder beside `out`, then build (or continue) the MMRS
    dataset in `out` from them. Returns (songs converted, ["folder: reason" of songs skipped], BuildReport).
    A song whose chart or audio cannot be read is skipped with its reason, never silently."""
    import shutil

    from tokenization.errors import MapperInputError
    from tokenization.osu_writer import write_beatmap
    from training.dataset_build import build_dataset, safe_file_name
    from training.synth_render import SAMPLE_RATE

    folders = find_songs(src)
    if not folders:
        raise MapperInputError(f"{src}: no Frets on Fire songs (folders with {INI_FILE}, {CHART_FILE} and {STEMS[0]})")
    # Beside the output (the builder refuses sources inside it), on the same filesystem for hard links.
    staging = out.resolve().parent / f".{out.name}.fof-staging"
    shutil.rmtree(staging, ignore_errors=True)
    converted, skipped = 0, []
    try:
        for index, folder in enumerate(folders):
            target = staging / f"{index:04d}"
            try:
                song, maps = song_maps(folder, "audio.ogg")
                if not maps:
                    raise ValueError("no notes")
                target.mkdir(parents=True)
                _write_ogg(target / "audio.ogg", mix_stems(folder, SAMPLE_RATE), SAMPLE_RATE)
            except Exception as exc:  # noqa: BLE001 - MIDI and audio readers raise many types
                skipped.append(f"{folder}: {type(exc).__name__}: {exc}"[:300])
                shutil.rmtree(target, ignore_errors=True)
                continue
            for number, beatmap in enumerate(maps):
                name = f"{song.composer} - {song.title} ({CREATOR}) [{beatmap.metadata.version}]"
                write_beatmap(beatmap, target / f"{number} {safe_file_name(name, 'map')}.osu")
            converted += 1
            if progress is not None:
                progress("converting", index + 1, len(folders))
        if not converted:
            raise MapperInputError(f"{src}: none of {len(folders)} Frets on Fire songs could be read ({skipped[0]})")
        report = build_dataset([staging], out, progress=progress)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return converted, skipped, report
