"""Looking at a built MMRS dataset: a summary (`dataset_info`) and every problem in it (`check_dataset`).

The checks are what training needs to hold: every row locates a readable `.osu` and audio file
inside the dataset, ids are unique, each set id has one folder and one audio file (the loader reads
the audio of a set's first row for all of it), and each row has the seven star ratings that the
difficulty token interpolates between.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from tokenization.errors import MapperInputError
from training import mmrs

STAR_BIN_EDGES = tuple(range(11))  # stars; one bin per star up to 10, then one open bin

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Problem:
    code: str  # short kind, e.g. "missing-file", "duplicate-id"
    message: str  # one line naming the row, the file and what is wrong
    path: str | None = None  # the file or folder concerned, when there is one

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class StarBin:
    low: float  # stars, inclusive
    high: float | None  # stars, exclusive; None = no upper bound
    count: int

    @property
    def label(self) -> str:
        return f"{self.low:g}-{self.high:g}" if self.high is not None else f"{self.low:g}+"


@dataclass
class DatasetInfo:
    root: Path
    beatmaps: int
    sets: int
    maps_per_mode: dict[str, int]  # all four modes, by the osu! API's names
    star_histogram: list[StarBin]  # by DifficultyRating (nomod stars)
    star_rating_unknown: int
    audio_files: int
    audio_minutes: float
    audio_unknown: int  # audio files with no recorded duration that could not be read either
    mappers: dict[str, int] = field(default_factory=dict)  # Creator -> beatmaps, most first
    years: dict[int, int] = field(default_factory=dict)  # SubmittedDate year -> beatmaps, oldest first
    year_unknown: int = 0

    def to_dict(self) -> dict:
        """JSON-ready (paths as text, star bins with their labels)."""
        data = asdict(self)
        data["root"] = str(self.root)
        data["star_histogram"] = [{"label": b.label, "low": b.low, "high": b.high, "count": b.count}
                                  for b in self.star_histogram]
        data["years"] = {str(year): count for year, count in self.years.items()}
        return data


# ----------------------------------------------------------------------------------------------- info

def _present(value) -> bool:
    """Not null: None, NaN and NaT all count as missing."""
    if value is None:
        return False
    try:
        return not bool(value != value)  # NaN and NaT are the values unequal to themselves
    except (TypeError, ValueError):  # arrays and lists
        return True


def dataset_info(root: str | os.PathLike) -> DatasetInfo:
    """Counts over a dataset: maps per mode, star ratings, audio minutes, mappers and years."""
    root = Path(root)
    frame = mmrs.read_metadata(root)
    for column in ("BeatmapSetId", "ModeInt", "BeatmapSetFolder", "AudioFile"):
        if column not in frame.columns:
            raise MapperInputError(f"{mmrs.metadata_path(root)}: has no {column} column")

    modes = Counter(int(m) for m in frame["ModeInt"] if _present(m))
    maps_per_mode = {name: modes.get(number, 0) for number, name in mmrs.MODE_NAMES.items()}

    stars = [float(s) for s in frame["DifficultyRating"] if _present(s)] if "DifficultyRating" in frame else []
    bins = []
    for low, high in zip(STAR_BIN_EDGES, STAR_BIN_EDGES[1:] + (None,)):
        count = sum(1 for s in stars if s >= low and (high is None or s < high))
        bins.append(StarBin(float(low), float(high) if high is not None else None, count))

    durations: dict[tuple[str, str], float | None] = {}
    recorded = frame["AudioDuration"] if "AudioDuration" in frame else [None] * len(frame)
    for folder, audio, seconds in zip(frame["BeatmapSetFolder"], frame["AudioFile"], recorded):
        if not (_present(folder) and _present(audio)):
            continue
        key = (folder, audio)
        if durations.get(key) is None:
            durations[key] = float(seconds) if _present(seconds) else None
    for (folder, audio), seconds in durations.items():
        if seconds is None:  # datasets from Mapperator record no duration: read the header
            try:
                durations[(folder, audio)] = _audio_seconds(mmrs.set_folder_path(root, folder) / audio)
            except Exception:  # noqa: BLE001 - missing or unreadable; counted as unknown
                pass
    known = [s for s in durations.values() if s is not None]

    mappers = Counter()
    for creator, user in zip(frame["Creator"] if "Creator" in frame else [None] * len(frame),
                             frame["UserId"] if "UserId" in frame else [None] * len(frame)):
        if _present(creator) and str(creator).strip():
            mappers[str(creator).strip()] += 1
        elif _present(user):
            mappers[f"user {int(user)}"] += 1
        else:
            mappers["(unknown)"] += 1

    years = Counter(int(d.year) for d in frame["SubmittedDate"] if _present(d)) if "SubmittedDate" in frame else {}
    return DatasetInfo(
        root=root, beatmaps=len(frame), sets=frame["BeatmapSetId"].nunique(), maps_per_mode=maps_per_mode,
        star_histogram=bins, star_rating_unknown=len(frame) - len(stars),
        audio_files=len(durations), audio_minutes=sum(known) / 60.0, audio_unknown=len(durations) - len(known),
        mappers=dict(sorted(mappers.items(), key=lambda item: (-item[1], item[0].lower()))),
        years=dict(sorted(years.items())), year_unknown=len(frame) - sum(years.values()))


def _audio_seconds(path: Path) -> float:
    import soundfile

    info = soundfile.info(str(path))
    if info.samplerate <= 0 or info.frames <= 0:
        raise ValueError("holds no samples")
    return info.frames / info.samplerate


# ----------------------------------------------------------------------------------------------- check

def _plain_name(value: str) -> bool:
    """One path part that stays inside its folder (no separators, not '.' or '..')."""
    return bool(value) and "/" not in value and "\\" not in value and value not in (".", "..") and ":" not in value


def _relative_inside(value: str) -> bool:
    pure = PurePosixPath(value.replace("\\", "/"))
    return bool(value) and not pure.is_absolute() and ".." not in pure.parts and ":" not in value


class _Checker:
    def __init__(self, root: Path, progress: Progress | None, parse_beatmaps: bool):
        self.root = root
        self.progress = progress
        self.parse_beatmaps = parse_beatmaps
        self.problems: list[Problem] = []

    def add(self, code: str, message: str, path: Path | str | None = None) -> None:
        self.problems.append(Problem(code, message, str(path) if path is not None else None))

    def run(self) -> list[Problem]:
        if not self.root.is_dir():
            self.add("not-found", f"{self.root}: no such folder", self.root)
            return self.problems
        try:
            table = mmrs.read_metadata_table(self.root)
        except MapperInputError as exc:
            self.add("no-metadata", str(exc), mmrs.metadata_path(self.root))
            return self.problems
        missing = [c for c in mmrs.REQUIRED_COLUMNS if c not in table.column_names]
        for column in missing:
            self.add("missing-column", f"{mmrs.METADATA_FILE}: has no {column} column", mmrs.metadata_path(self.root))
        if any(c in missing for c in mmrs.KEY_COLUMNS):
            return self.problems  # rows cannot be located without these
        built_here = mmrs.BUILD_STATE_KEY in (table.schema.metadata or {})
        rows = table.to_pylist()
        if rows and not (self.root / mmrs.DATA_DIR).is_dir():
            self.add("no-data-folder", f"{self.root}: has no {mmrs.DATA_DIR}/ folder", self.root / mmrs.DATA_DIR)
            return self.problems
        self.check_rows(rows, built_here)
        self.check_keys(rows)
        self.check_orphans(rows)
        return self.problems

    def check_rows(self, rows: list[dict], built_here: bool) -> None:
        audio_checked: dict[Path, str | None] = {}
        for index, row in enumerate(rows):
            where = f"row {index} (set {row['BeatmapSetId']}, beatmap {row['Id']})"
            nulls = [c for c in mmrs.KEY_COLUMNS if row.get(c) is None]
            for column in nulls:
                self.add("null-value", f"{where}: {column} is empty")
            mode = row["ModeInt"]
            if mode is not None and mode not in mmrs.MODE_NAMES:
                self.add("bad-mode", f"{where}: ModeInt {mode} is not 0-3")
            elif mode is not None and row.get("Mode") not in (None, mmrs.MODE_NAMES[mode]):
                self.add("bad-mode", f"{where}: Mode {row['Mode']!r} disagrees with ModeInt {mode}")
            self.check_stars(where, row)
            if nulls:
                continue
            folder, beatmap_file, audio_file = row["BeatmapSetFolder"], row["BeatmapFile"], row["AudioFile"]
            if not _plain_name(folder):
                self.add("unsafe-path", f"{where}: BeatmapSetFolder {folder!r} is not a plain folder name")
                continue
            for column, value in (("BeatmapFile", beatmap_file), ("AudioFile", audio_file)):
                if not _relative_inside(value):
                    self.add("unsafe-path", f"{where}: {column} {value!r} leads outside its set folder")
            if not (_relative_inside(beatmap_file) and _relative_inside(audio_file)):
                continue
            self.check_beatmap_file(where, row, mmrs.beatmap_path(self.root, row), built_here)
            audio = mmrs.audio_path(self.root, row)
            if audio not in audio_checked:
                audio_checked[audio] = self.audio_problem(audio)
            if audio_checked[audio] is not None:
                self.add("bad-audio", f"{where}: audio {audio_file!r} {audio_checked[audio]}", audio)
            if self.progress is not None:
                self.progress("checking", index + 1, len(rows))

    def check_stars(self, where: str, row: dict) -> None:
        stars = row.get("StarRating")
        if stars is None or len(stars) != len(mmrs.STAR_RATING_RATES):
            count = "none" if stars is None else len(stars)
            self.add("bad-star-rating", f"{where}: StarRating needs {len(mmrs.STAR_RATING_RATES)} values "
                                        f"(rates {', '.join(map(str, mmrs.STAR_RATING_RATES))}), has {count}")
        elif any(s is None or not math.isfinite(s) or s < 0 for s in stars):
            self.add("bad-star-rating", f"{where}: StarRating holds a value that is not a star rating: {stars}")
        rating = row.get("DifficultyRating")
        if rating is None or not math.isfinite(rating) or rating < 0:
            self.add("bad-star-rating", f"{where}: DifficultyRating is {rating}")

    def check_beatmap_file(self, where: str, row: dict, path: Path, built_here: bool) -> None:
        if not path.is_file():
            self.add("missing-file", f"{where}: beatmap file is missing: {path}", path)
            return
        try:
            raw = path.read_bytes()
        except OSError as exc:
            self.add("missing-file", f"{where}: cannot read {path}: {exc.strerror or exc}", path)
            return
        # Mapperator rewrites .osu files but keeps the online checksum; only our own copies must match.
        if built_here and row.get("Checksum") and hashlib.md5(raw).hexdigest() != row["Checksum"]:
            self.add("checksum", f"{where}: {path.name} does not match its Checksum (changed after building)", path)
        if not self.parse_beatmaps:
            return
        from tokenization.osu_reader import parse_beatmap

        try:
            beatmap = parse_beatmap(raw, path=str(path))
        except MapperInputError as exc:
            self.add("bad-beatmap", f"{where}: {exc}", path)
            return
        if row["ModeInt"] is not None and int(beatmap.mode) != row["ModeInt"]:
            self.add("bad-mode", f"{where}: {path.name} is mode {int(beatmap.mode)}, ModeInt says {row['ModeInt']}",
                     path)

    @staticmethod
    def audio_problem(path: Path) -> str | None:
        if not path.is_file():
            return "is missing"
        try:
            _audio_seconds(path)
        except Exception as exc:  # noqa: BLE001 - soundfile raises several types
            return f"is unreadable ({exc})"
        return None

    def check_keys(self, rows: list[dict]) -> None:
        keys = Counter((r["BeatmapSetId"], r["Id"]) for r in rows)
        for (set_id, beatmap_id), count in sorted(keys.items(), key=str):
            if count > 1:
                self.add("duplicate-id", f"set {set_id}, beatmap {beatmap_id}: {count} rows share this key")
        ids = {}
        for r in rows:
            ids.setdefault(r["Id"], set()).add(r["BeatmapSetId"])
        for beatmap_id, sets in sorted(ids.items(), key=str):
            if len(sets) > 1:
                self.add("duplicate-id", f"beatmap {beatmap_id}: in {len(sets)} sets ({', '.join(map(str, sorted(sets, key=str)))})")
        folders_of: dict = {}
        sets_of: dict = {}
        audio_of: dict = {}
        for r in rows:
            folders_of.setdefault(r["BeatmapSetId"], set()).add(r["BeatmapSetFolder"])
            sets_of.setdefault(r["BeatmapSetFolder"], set()).add(r["BeatmapSetId"])
            audio_of.setdefault(r["BeatmapSetId"], set()).add(r["AudioFile"])
        for set_id, folders in sorted(folders_of.items(), key=str):
            if len(folders) > 1:
                self.add("split-set", f"set {set_id}: rows in {len(folders)} folders {sorted(folders, key=str)}; "
                                      "the loader reads a set from its first row's folder")
            if len(audio_of[set_id]) > 1:
                self.add("split-set", f"set {set_id}: rows name {len(audio_of[set_id])} audio files "
                                      f"{sorted(audio_of[set_id], key=str)}; the loader uses the first row's for all")
        for folder, sets in sorted(sets_of.items(), key=str):
            if len(sets) > 1 and folder is not None:
                self.add("split-set", f"folder {folder!r}: holds rows of {len(sets)} set ids "
                                      f"{sorted(sets, key=str)}")

    def check_orphans(self, rows: list[dict]) -> None:
        data = self.root / mmrs.DATA_DIR
        if not data.is_dir():
            return
        used = {r["BeatmapSetFolder"] for r in rows}
        for entry in sorted(data.iterdir()):
            if entry.name not in used:
                self.add("orphan", f"{mmrs.DATA_DIR}/{entry.name}: no row refers to it (left by a stopped build?)",
                         entry)


def check_dataset(root: str | os.PathLike, *, parse_beatmaps: bool = True,
                  progress: Progress | None = None) -> list[Problem]:
    """Every problem found, one per row and file concerned; an empty list means the dataset is sound.

    `parse_beatmaps=False` skips reading each `.osu` with the parser (the slowest check)."""
    return _Checker(Path(root), progress, parse_beatmaps).run()
