"""What `mapper generate` is asked (every option, resolved) and what it gives back, with the
file-naming rules of its output: names safe on every system (tokenization.safe_text), never an
existing file (names are taken atomically by tokenization.atomic_files).

`GenerateRequest.verify()` is the one place a generation's options are checked against their
ranges (profiles.limits) and against each other, with the command's messages, before any work:
the command, the wizard, the web form and the pipeline all ask it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from profiles import limits
from tokenization.errors import MapperInputError

GAMEMODES = {"osu": 0, "taiko": 1, "catch": 2, "mania": 3}
# Other names players use for a mode: the .osu file's `Mode:` numbers and the older mode names.
GAMEMODE_ALIASES = {"0": "osu", "1": "taiko", "2": "catch", "3": "mania", "std": "osu", "standard": "osu",
                    "fruits": "catch", "ctb": "catch"}
IN_CONTEXTS = ("timing", "kiai", "gd", "no_hs")
OUTPUT_TYPES = ("timing", "kiai", "map", "sv")
DEVICES = ("auto", "cpu", "cuda")
RHYTHMS = ("audio", "model")  # models.generation.audio_rhythm: heard in the song, or the model's own
PRECISIONS = ("fp32", "amp", "int8")  # models.loading.PRECISIONS, without importing torch for --help
# The command's flag of a field whose name differs from its flag's (else --field-name).
FLAGS = {"mapper_id": "--mapper", "overall_difficulty": "--od", "approach_rate": "--ar",
         "version": "--difficulty-name", "reference": "--beatmap", "out_dir": "--out", "mapset": "--difficulty",
         "output_types": "--output-type", "descriptors": "--descriptor",
         "negative_descriptors": "--negative-descriptor"}
# Range checks run in the command's table order; the star ratings are checked with the mapset rules.
RANGE_ORDER = ("keycount", "mapper_id", "hold_note_ratio", "scroll_speed_ratio", "hp", "overall_difficulty",
               "approach_rate", "slider_tick_rate", "cfg_scale", "temperature", "top_p", "top_k", "num_beams",
               "timing_temperature", "mania_column_temperature", "taiko_hit_temperature", "lookback",
               "lookahead", "bpm", "timing_passes", "timing_leniency", "batch_size")


def gamemode_number(name: str | int) -> str | int:
    """The mode's number for a name, an alias or a number (0-3); anything else is returned as it is, for
    `GenerateRequest.problems` to refuse."""
    if isinstance(name, int):
        return name
    key = name.strip().lower()
    return GAMEMODES.get(GAMEMODE_ALIASES.get(key, key), name)


def flag(field_name: str) -> str:
    """The command-line flag that fills a request field."""
    return FLAGS.get(field_name, "--" + field_name.replace("_", "-"))


class RequestProblems(MapperInputError):
    """Every problem of a request, as (flag, message) pairs in the order the command checks them;
    its text is the first message, the one line the command prints."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__(problems[0][1])
        self.problems = problems


def star_ratings_problem(stars: list[float]) -> str | None:
    """What is wrong with the star ratings asked for (one, or a mapset's list)."""
    if any(limits.STARS.problem(value) is not None for value in stars):
        return f"--difficulty star ratings {limits.STARS.problem(-1.0)}"
    if len(set(stars)) < len(stars):
        return "--difficulty lists a star rating twice"
    return None


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
    rhythm: str | None = None  # audio: timing and object times heard in the song; model; None: by the profile
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
    mapset: list[float] = field(default_factory=list)  # two or more star ratings: a mapset (difficulty is None)

    @property
    def guided(self) -> bool:
        """Whether classifier-free guidance was asked for by name (a profile may still turn it on)."""
        return limits.guidance_on(self.cfg_scale)

    @property
    def star_ratings(self) -> list[float | None]:
        """The difficulties to make: a mapset's star ratings, else the one asked for (None: unknown)."""
        return list(self.mapset) or [self.difficulty]

    def verify(self) -> GenerateRequest:
        """This request, if every option is in its range and fits the others; else RequestProblems
        (a MapperInputError) with every problem found, the first one as its message."""
        problems = list(self.problems())
        if problems:
            raise RequestProblems(problems)
        return self

    def problems(self) -> Iterator[tuple[str, str]]:
        """(flag, message) for each problem, in the order the command has always reported them."""
        for _, found in self.problem_stages():
            yield from found

    def problem_stages(self) -> list[tuple[str, Iterator[tuple[str, str]]]]:
        """The checks in their order, by stage (files, names, ranges, combinations, span, trace,
        difficulties, output), so that whoever parses raw values can put its own problems where the
        command reports them."""
        return [("files", self._file_problems()), ("names", self._name_problems()),
                ("ranges", self._range_problems()), ("combinations", self._combination_problems()),
                ("span", self._span_problems()), ("trace", self._trace_problems()),
                ("difficulties", self._difficulty_problems()), ("output", self._output_problems())]

    def _name_problems(self) -> Iterator[tuple[str, str]]:
        if self.gamemode not in GAMEMODES.values():
            yield "--gamemode", f"unknown game mode {self.gamemode!r} (choose from {', '.join(GAMEMODES)}, or 0-3)"
        for name, given, allowed in (("in_context", self.in_context, IN_CONTEXTS),
                                     ("output_types", self.output_types, OUTPUT_TYPES)):
            if set(given) - set(allowed):
                yield flag(name), f"{flag(name)} takes {', '.join(allowed)}, not {', '.join(sorted(set(given)))}"

    def _range_problems(self) -> Iterator[tuple[str, str]]:
        for name in RANGE_ORDER:
            problem = limits.problem(name, getattr(self, name))
            if problem is not None:
                yield flag(name), f"{flag(name)} {problem}"

    def _span_problems(self) -> Iterator[tuple[str, str]]:
        if self.start_time is not None and self.end_time is not None and self.end_time <= self.start_time:
            yield "--end-time", "--end-time must be after --start-time"

    def _trace_problems(self) -> Iterator[tuple[str, str]]:
        if self.trace is not None and (self.trace.is_dir() or not self.trace.parent.is_dir()):
            yield "--trace", f"{self.trace}: --trace needs a file path in an existing folder"

    def _output_problems(self) -> Iterator[tuple[str, str]]:
        target = self.reference.parent if self.add_to_beatmap and self.overwrite and self.reference else self.out_dir
        problem = _unwritable(target)
        if problem is not None:
            yield "--out", problem

    def _file_problems(self) -> Iterator[tuple[str, str]]:
        if self.reference is not None:
            if not self.reference.is_file():
                yield "--beatmap", f"{self.reference}: beatmap not found"
            elif self.reference.suffix.lower() != ".osu":
                yield "--beatmap", f"{self.reference}: the reference must be an .osu file"
        if self.audio.is_dir():
            yield "audio", f"{self.audio}: is a folder, not an audio file"
        elif not self.audio.is_file():
            yield "audio", f"{self.audio}: audio file not found"

    def _combination_problems(self) -> Iterator[tuple[str, str]]:
        """Options that contradict each other or need another one."""
        if self.negative_descriptors and not self.guided:
            yield "--negative-descriptor", "--negative-descriptor needs --cfg-scale above 1"
        if self.in_context and self.reference is None:
            yield "--in-context", "--in-context needs a reference --beatmap"
        if {"gd", "no_hs"} <= set(self.in_context):
            yield "--in-context", "--in-context takes gd or no_hs, not both"
        if self.add_to_beatmap and self.reference is None:
            yield "--add-to-beatmap", "--add-to-beatmap needs the reference --beatmap to add to"
        if self.overwrite and not self.add_to_beatmap:
            yield "--overwrite", "--overwrite only applies with --add-to-beatmap"
        if self.lora is not None and not (self.lora / "adapter_config.json").is_file():
            yield "--lora", f"{self.lora}: not a LoRA adapter folder (no adapter_config.json)"
        if self.offset is not None and self.bpm is None:
            yield "--offset", "--offset needs --bpm"
        if self.bpm is not None and "timing" in self.in_context:
            yield "--bpm", "--bpm and --in-context timing both give the timing: choose one"
        if (self.lookback or 0) + (self.lookahead or 0) >= limits.MAX_WINDOW_SHARES:
            yield "--lookahead", "--lookback plus --lookahead must leave part of each window to generate (below 0.95)"
        if self.device not in DEVICES:
            yield "--device", f"--device takes {', '.join(DEVICES)}, not {self.device!r}"
        if self.precision not in PRECISIONS:
            yield "--precision", f"--precision takes {', '.join(PRECISIONS)}, not {self.precision!r}"
        if self.rhythm is not None and self.rhythm not in RHYTHMS:
            yield "--rhythm", f"--rhythm takes {' or '.join(RHYTHMS)}, not {self.rhythm!r}"
        if self.precision == "int8" and self.device == "cuda":
            yield "--precision", "--precision int8 runs on the CPU only: use --device cpu, or fp32/amp on a GPU"
        if self.diffusion_model is not None and self.refine is False:
            yield "--diffusion-model", "--diffusion-model and --no-refine contradict each other"

    def _difficulty_problems(self) -> Iterator[tuple[str, str]]:
        if self.mapset and self.difficulty is not None:
            yield "--difficulty", "--difficulty: a mapset's star ratings replace the single one"
        problem = star_ratings_problem([s for s in self.star_ratings if s is not None])
        if problem is not None:
            yield "--difficulty", problem
        if len(self.mapset) == 1:
            yield "--difficulty", "--difficulty: a mapset needs two or more star ratings"
        if len(self.mapset) > 1:
            if self.add_to_beatmap:
                yield "--add-to-beatmap", "--add-to-beatmap adds one difficulty: give a single --difficulty"
            if self.version is not None:
                yield "--difficulty-name", ("--difficulty-name names one difficulty; a mapset's are named by "
                                            "their star ratings")
            if self.parallel:
                yield "--parallel", "--parallel makes one difficulty at a time: leave it out with a --difficulty list"


@dataclass
class GenerateResult:
    path: Path
    tokens: int
    warnings: list[str]
    written: list[Path] = field(default_factory=list)  # every file, the .osu first
    backup: Path | None = None  # the reference's old contents, when it was overwritten


def _unwritable(folder: Path) -> str | None:
    """Why an output folder cannot be written now (not after minutes of generating), or None."""
    while not folder.exists():  # the nearest folder that is there decides whether it can be made
        if folder.parent == folder:
            break
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder}: is a file, not a folder; cannot write the output there"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder}: not writable; choose another --out"
    return None


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
