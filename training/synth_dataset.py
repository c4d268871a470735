"""`mapper dataset synth`: a redistributable MMRS training dataset made from public-domain scores.

Each song is a piece of the music21 corpus at a tempo, meter, instrumentation, mix and noise drawn
from `numpy.random.default_rng([seed, song index])`, rendered with a General MIDI soundfont, with
eight maps written from its exact note times (see `synth_maps`). Songs are staged as audio + .osu
folders beside the output and handed to the ordinary dataset builder, so the layout is exactly what
`mapper dataset build` writes. The recipe and every song's choices go into `synth.json`; the same
recipe gives the same songs and maps again.

Staged songs are kept until the build finishes, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tokenization.errors import MapperInputError
from training import mmrs

RECIPE_FILE = "synth.json"
RECIPE_VERSION = 1
AUDIO_FILE = "audio.ogg"
DONE_FILE = ".done"  # written last in a staged song folder
MAX_ATTEMPTS = 20  # pieces tried per song before giving up (a piece may have no notes or meter)
REQUIRED = ("music21", "pretty_midi", "tinysoundfont")
INSTALL_HINT = ("pip install 'mapper[synth]' && pip install --no-deps tinysoundfont==0.3.7 "
                "(tinysoundfont's pyaudio dependency is only for live playback)")


@dataclass(frozen=True)
class Recipe:
    songs: int
    seed: int = 0
    max_seconds: float = 90.0
    bpm_min: float = 70.0
    bpm_max: float = 200.0
    tempo_change_chance: float = 0.3
    drum_chance: float = 0.4
    noise_chance: float = 0.6
    sources: tuple[str, ...] = ()  # corpus folders to draw from; empty = all of synth_score.CORPUS_SOURCES
    mania_keys: tuple[int, ...] = (4, 5, 6, 7)

    def validate(self) -> None:
        from training.synth_score import CORPUS_SOURCES

        if self.songs < 1:
            raise MapperInputError(f"--songs {self.songs}: need at least one song")
        if not 2.0 <= self.max_seconds <= 600.0:
            raise MapperInputError(f"--seconds {self.max_seconds:g}: choose between 2 and 600")
        unknown = [s for s in self.sources if s not in CORPUS_SOURCES]
        if unknown:
            raise MapperInputError(f"--source {unknown[0]}: not one of {', '.join(CORPUS_SOURCES)}")


@dataclass
class SynthReport:
    out_dir: Path
    songs: int
    songs_synthesized: int  # this run; the rest were staged by an interrupted earlier run
    beatmaps: int
    skipped_pieces: list[str] = field(default_factory=list)  # unreadable pieces passed over for others
    skipped_maps: list[str] = field(default_factory=list)  # maps the dataset builder refused
    seconds: float = 0.0
    audio_seconds: float = 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        return data


def check_requirements() -> None:
    import importlib.util

    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        raise MapperInputError(f"dataset synth needs {', '.join(missing)}: {INSTALL_HINT}")


def _versions() -> dict:
    from importlib.metadata import version

    from training.synth_render import soundfont_path

    return {"music21": version("music21"), "pretty_midi": version("pretty_midi"),
            "tinysoundfont": version("tinysoundfont"),
            "soundfont_sha256": hashlib.sha256(soundfont_path().read_bytes()).hexdigest()}


def _staging_dir(out: Path) -> Path:
    # Beside the output (the builder refuses sources inside it), on the same filesystem so that the
    # builder hard-links the audio instead of copying it.
    return out.resolve().parent / f".{out.name}.synth-staging"


def synthesize_song(recipe: Recipe, index: int, pieces: dict[str, list[str]], folder: Path) -> dict:
    """Stage song `index` (audio + .osu files) in `folder`; returns its record for synth.json."""
    import numpy as np

    from tokenization.osu_writer import write_beatmap
    from training.synth_maps import song_beatmaps
    from training.synth_render import SAMPLE_RATE, choose_mix, render, write_audio
    from training.synth_score import load_song

    rng = np.random.default_rng([recipe.seed, index])
    sources = sorted(pieces)
    skipped = []
    for _ in range(MAX_ATTEMPTS):
        # A source first, then a piece in it: Palestrina's 1300 masses would otherwise drown the rest.
        source = sources[int(rng.integers(len(sources)))]
        piece = pieces[source][int(rng.integers(len(pieces[source])))]
        try:
            song = load_song(piece, rng, max_seconds=recipe.max_seconds, bpm_range=(recipe.bpm_min, recipe.bpm_max),
                             tempo_change_chance=recipe.tempo_change_chance)
        except Exception as exc:  # noqa: BLE001 - music21 raises many types for scores it cannot read
            song, reason = None, f"{type(exc).__name__}: {exc}"
        else:
            reason = "no pitched notes or no time signature"
        if song is not None:
            break
        skipped.append(f"{piece}: {reason}"[:200])
    else:
        raise MapperInputError(f"song {index}: no usable piece in {MAX_ATTEMPTS} tries ({skipped[-1]})")
    mix = choose_mix(song, rng, drum_chance=recipe.drum_chance, noise_chance=recipe.noise_chance)
    audio = render(song, mix, rng)
    keys = int(rng.choice(recipe.mania_keys))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    write_audio(folder / AUDIO_FILE, audio)
    maps = song_beatmaps(song, rng, AUDIO_FILE, keys)
    for number, beatmap in enumerate(maps):
        name = f"{song.composer} - {song.title} ({beatmap.metadata.creator}) [{beatmap.metadata.version}]"
        safe = "".join("_" if ch in '<>:"/\\|?*' else ch for ch in name)[:150]
        write_beatmap(beatmap, folder / f"{number} {safe}.osu")
    record = {"index": index, "piece": song.piece, "title": song.title, "composer": song.composer,
              "parts": song.parts, "notes": len(song.notes), "seconds": len(audio) / SAMPLE_RATE,
              "red_lines": [[line.time, line.beat_length, line.meter] for line in song.red_lines],
              "tempo": [list(segment) for segment in song.tempo],
              "programs": mix.programs, "drums": mix.drums, "noise": mix.noise,
              "snr_db": round(mix.snr_db, 2), "peak": round(mix.peak, 3), "mania_keys": keys,
              "maps": len(maps), "skipped_pieces": skipped}
    (folder / DONE_FILE).write_text(json.dumps(record))
    return record


def synthesize_dataset(recipe: Recipe, out_dir: str | os.PathLike, *, progress=None) -> SynthReport:
    """Stage every song, build the MMRS dataset from them, write synth.json, drop the staging."""
    from training.dataset_build import build_dataset
    from training.synth_score import CORPUS_SOURCES, corpus_pieces

    started = time.perf_counter()
    recipe.validate()
    check_requirements()
    out = Path(out_dir)
    recipe_path = out / RECIPE_FILE
    header = {"version": RECIPE_VERSION, "recipe": asdict(recipe), "packages": _versions()}
    if recipe_path.exists():
        earlier = json.loads(recipe_path.read_text())
        if {k: earlier.get(k) for k in header} != json.loads(json.dumps(header)):
            raise MapperInputError(f"{out}: holds a synthetic dataset of another recipe or package versions; "
                                   "choose a new folder")
        records = earlier["songs"]  # built already: nothing to do
        return SynthReport(out, recipe.songs, 0, mmrs.read_metadata_table(out).num_rows,
                           skipped_pieces=[s for r in records for s in r["skipped_pieces"]],
                           seconds=time.perf_counter() - started, audio_seconds=sum(r["seconds"] for r in records))
    elif mmrs.metadata_path(out).exists():
        raise MapperInputError(f"{out}: holds a dataset that is not synthetic; choose a new folder")
    wanted = set(recipe.sources or CORPUS_SOURCES)
    pieces: dict[str, list[str]] = {}
    for piece in corpus_pieces():
        source = piece.split("/", 1)[0]
        if source in wanted:
            pieces.setdefault(source, []).append(piece)
    if not pieces:
        raise MapperInputError("the music21 corpus holds none of the chosen sources")

    staging = _staging_dir(out)
    records, made = [], 0
    for index in range(recipe.songs):
        folder = staging / f"{index:06d}"
        done = folder / DONE_FILE
        if done.is_file():  # staged by an earlier, interrupted run
            records.append(json.loads(done.read_text()))
        else:
            records.append(synthesize_song(recipe, index, pieces, folder))
            made += 1
        if progress is not None:
            progress("synthesizing", index + 1, recipe.songs)
    report = build_dataset([staging], out, progress=progress)
    from tokenization.osu_writer import write_text_atomic

    header["songs"] = records
    write_text_atomic(recipe_path, json.dumps(header, indent=1, ensure_ascii=False) + "\n")
    recipe_path.chmod(0o644)  # a temporary file's 0600 would keep others from reading the recipe
    shutil.rmtree(staging, ignore_errors=True)
    return SynthReport(out, recipe.songs, made, report.total_beatmaps,
                       skipped_pieces=[s for r in records for s in r["skipped_pieces"]],
                       skipped_maps=[f"{s.path}: {s.reason}" for s in report.skipped],
                       seconds=time.perf_counter() - started, audio_seconds=sum(r["seconds"] for r in records))
