"""What `mapper generate` is asked (every option, resolved) and what it gives back, with the
file-naming rules of its output: names safe on every system (tokenization.safe_text), never an
existing file (names are taken atomically by tokenization.atomic_files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class GenerateRequest:
    audio: Path
    model: str
    profile: str | None = None
    out_dir: Path = Path(".")
    gamemode: int = 0
    difficulty: float | None = None
    year: int | None = None
    descriptors: list[str] = field(default_factory=list)
    keycount: int = 4
    seed: int | None = None
    greedy: bool = False
    temperature: float | None = None
    top_p: float | None = None
    reference: Path | None = None
    in_context: list[str] = field(default_factory=list)  # from the reference: timing, kiai, gd, no_hs
    title: str | None = None
    artist: str | None = None
    slider_multiplier: float | None = None  # None: the reference's, else 1.4
    circle_size: float | None = None  # None: the reference's, else 4
    device: str = "cpu"  # cpu, cuda, or auto (cuda when available)
    precision: str = "fp32"  # amp: bf16 autocast for the encoder side; int8: int8 decoder (CPU)
    lora: Path | None = None
    cfg_scale: float | None = None  # None: the profile's
    negative_descriptors: list[str] = field(default_factory=list)
    output_types: list[str] = field(default_factory=list)  # passes to run; empty: the profile's
    export_osz: bool = False
    start_time: float | None = None  # ms; generate only this span
    end_time: float | None = None
    add_to_beatmap: bool = False  # splice the span into the reference, as a new file
    overwrite: bool = False  # with add_to_beatmap: replace the reference itself (a backup is kept)
    refine: bool | None = None  # diffusion refinement of positions; None: as the profile says
    diffusion_model: str | None = None  # folder or hub id; None: the published one
    super_timing: bool | None = None  # timing by voting over shifted passes; None: the profile's
    timing_passes: int | None = None  # passes to vote over; None: the profile's timer_iterations
    parallel: bool = False  # side-by-side windows decoded in batches (models.generation.parallel)
    batch_size: int | None = None  # windows per batch in parallel mode and super timing; None: the profile's
    bpm: float | None = None  # a known tempo: one red line instead of the timing pass
    offset: float | None = None  # ms of that red line's first beat
    # style classes (None: unknown, as the model was trained to accept)
    mapper_id: int | None = None  # osu! user id of the mapper whose style to follow
    beatmap_id: int | None = None  # a training beatmap's id, as a style class
    hitsounded: bool | None = None  # None: the reference's, else True
    hold_note_ratio: float | None = None  # mania: share of hold notes, 0..1
    scroll_speed_ratio: float | None = None  # mania/taiko: share of scroll-speed changes, 0..1
    # sampling and windows (None: the profile's)
    top_k: int | None = None
    num_beams: int = 1  # above 1: beam search, no sampling
    timing_temperature: float | None = None
    mania_column_temperature: float | None = None
    taiko_hit_temperature: float | None = None
    timeshift_bias: float | None = None
    lookback: float | None = None
    lookahead: float | None = None
    # postprocessing (None: the profile's)
    timing_leniency: float | None = None
    resnap: bool | None = None
    snap_overlaps: bool | None = None
    # beatmap settings and metadata written to the file (None: the reference's or the defaults)
    hp: float | None = None
    overall_difficulty: float | None = None
    approach_rate: float | None = None
    slider_tick_rate: float | None = None
    creator: str | None = None
    version: str | None = None
    source: str | None = None
    title_unicode: str | None = None
    artist_unicode: str | None = None
    trace: Path | None = None  # a JSON-lines file with one record per decoder call (models.generation.trace)


@dataclass
class GenerateResult:
    path: Path
    tokens: int
    warnings: list[str]
    written: list[Path] = field(default_factory=list)  # every file, the .osu first
    backup: Path | None = None  # the reference's old contents, when it was overwritten


def safe_filename(text: str) -> str:
    """A file name from metadata: one line, no control characters, at most 150 UTF-8 bytes."""
    from tokenization.safe_text import safe_filename as cleaned

    return cleaned(text)


def fresh_path(folder: Path, stem: str, suffix: str = ".osu") -> Path:
    """A name free now (`stem`, then `stem (2)`, ...). Writing to it without overwrite refuses if
    another run took it meanwhile; `write_beatmap(..., new_name_if_taken=True)` takes one atomically."""
    path = folder / f"{stem}{suffix}"
    counter = 2
    while path.exists():
        path = folder / f"{stem} ({counter}){suffix}"
        counter += 1
    return path


def keep_backup(path: Path) -> Path:
    """Copy `path` to a free name beside it (`map.osu.bak`, then `map.osu.bak2`, ...), taken atomically."""
    import shutil

    from tokenization.atomic_files import write_atomic

    for counter in range(1, 10_000):
        candidate = path.with_name(path.name + (".bak" if counter == 1 else f".bak{counter}"))
        try:
            return write_atomic(candidate, lambda temp: shutil.copyfile(path, temp))
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: no free name for a backup")
