"""Build an MMRS dataset (see `training.mmrs`) from `.osz` files and folders of `.osu` files.

A *source* is one `.osz`, one folder's `.osu` files, or one `.osu` named on the command line; each
becomes one or more set folders under `data/`. Every beatmap is parsed, its audio found (beside it,
matched without regard to case, as osu! on Windows does) and measured, and its star rating computed
with rosu-pp at the seven StarRating playback rates. A file that fails any of that is skipped and
listed in the report; nothing about one bad file stops the build.

Building is resumable: `metadata.parquet` records, in its schema metadata, each finished source with
a fingerprint of its files (sizes and modification times). A second run skips unchanged sources and
rebuilds changed ones. The parquet is rewritten atomically at checkpoints and at the end, so an
interrupted build loses at most the sources since the last checkpoint, and their half-placed set
folders are replaced when the build is run again.

The files carry no dates, ranked status or user ids, so RankedDate, SubmittedDate, Ranked and UserId
stay null. Ids a file does not carry (0 or -1, unsubmitted maps) are replaced by stable negative ids
derived from the content, so that (BeatmapSetId, Id) stays a unique key and every set keeps its own
audio: the training loader loads one audio per set id.

With `workers`, sources are prepared (extracted, parsed, measured, rated) in worker processes and
placed in source order by this process, so the result is the serial build's (`training.dataset_workers`).

Over 300 lines: one resumable, lock-protected build (sources found, each file checked, sets staged,
placed, checkpointed and committed) whose steps share the builder's state and its cleanup rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from tokenization.beatmap import Beatmap, Circle, HoldNote, Slider, Spinner
from tokenization.errors import MapperInputError
from tokenization.osu_reader import MAX_FILE_BYTES, decode_text, parse_beatmap
from training import mmrs

STAGING_DIR = ".building"  # under the output folder, so set folders move into data/ with one rename
LOCK_FILE = ".build.lock"
CHECKPOINT_SECONDS = 30.0  # rewrite metadata.parquet at most this often while building
MAX_FOLDER_NAME_BYTES = 120  # ext4 allows 255; Mapperator shortens to keep Windows paths under 248 chars
MAX_FILE_NAME_BYTES = 200
MAX_FOLDER_DEPTH = 64  # folders below a source folder; a Songs folder is two deep, a sorted library a few more
INVALID_NAME_CHARS = set('<>:"/\\|?*')  # not allowed in Windows file names; '/' nowhere
LOCAL_ID_SPAN = 2**31 - 3  # local ids lie in [-(2**31 - 2), -2]: int32-sized, clear of osu!'s -1 and 0

Progress = Callable[[str, int, int], None]  # (stage, done, total), as models.generation.generator reports


@dataclass(frozen=True)
class SkippedFile:
    path: str  # the file (an archive member as "archive.osz:member")
    reason: str


@dataclass
class BuildReport:
    out_dir: Path
    sources: int  # .osz files, folders of .osu files and lone .osu files found
    sources_already_built: int  # unchanged since an earlier run, not looked at again
    sources_rebuilt: int  # changed since an earlier run; their old rows were replaced
    sets_added: int
    beatmaps_added: int
    skipped: list[SkippedFile]
    total_sets: int
    total_beatmaps: int
    seconds: float

    def to_dict(self) -> dict:
        """JSON-ready."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        return data


@dataclass(frozen=True)
class Source:
    """One unit of work; its `key` names it in the build state."""

    kind: str  # "osz", "folder" (every .osu directly in it) or "osu" (one file)
    path: Path  # absolute, links resolved: what is read, and what names it in the build state
    shown: Path | None = field(default=None, compare=False)  # as the user gave it, for reports

    def __post_init__(self) -> None:
        if self.shown is None:
            object.__setattr__(self, "shown", self.path)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.path}"

    def fingerprint(self) -> str:
        """Changes when any file the source reads could have changed (sizes and mtimes, no reading)."""
        if self.kind == "osz":
            info = self.path.stat()
            return f"{info.st_size}:{info.st_mtime_ns}"
        folder = self.path if self.kind == "folder" else self.path.parent
        digest = hashlib.sha1()
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                try:
                    if not entry.is_file():
                        continue
                    info = entry.stat()
                except OSError:  # a link to itself or a vanished file: the folder's maps do not read it
                    continue
                digest.update(f"{entry.name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def find_sources(paths: Iterable[str | os.PathLike], *, exclude: Path | None = None,
                 skipped: list[SkippedFile] | None = None) -> list[Source]:
    """Sources in the given files and folders (recursively), in a stable order, without duplicates.
    Folders nested deeper than MAX_FOLDER_DEPTH, and folders that cannot be listed, are not searched:
    each goes to `skipped` (when given) and the walk goes on."""
    found: dict[str, Source] = {}
    excluded = exclude.resolve() if exclude is not None else None
    for given in paths:
        path = Path(given).resolve()
        if not path.exists():
            raise MapperInputError(f"{given}: no such file or folder")
        if excluded is not None and (path == excluded or excluded in path.parents):
            raise MapperInputError(f"{given}: lies inside the output folder {exclude}")
        if path.is_file():
            suffix = path.suffix.lower()
            if suffix not in (".osz", ".osu"):
                raise MapperInputError(f"{given}: not a .osz or .osu file, nor a folder")
            source = Source(suffix[1:], path, Path(given))
            found.setdefault(source.key, source)
            continue
        # Reports name files under the folder as given: `../shared` may be a link, and a resolved
        # path would then lie outside what the user named.
        for source in _walk(path, Path(given), excluded, skipped if skipped is not None else []):
            found.setdefault(source.key, source)
    return list(found.values())


def _walk(root: Path, shown_root: Path, excluded: Path | None, skipped: list[SkippedFile]) -> Iterator[Source]:
    """Depth first with a stack of its own (a tree 1000 folders deep needs no Python recursion),
    in sorted order; links to folders are not followed (as os.walk), so a link loop ends nowhere."""
    stack = [(root, shown_root, 0)]
    while stack:
        here, shown, depth = stack.pop()
        if depth > MAX_FOLDER_DEPTH:
            skipped.append(SkippedFile(str(shown), f"nested deeper than {MAX_FOLDER_DEPTH} folders; not searched"))
            continue
        try:
            with os.scandir(here) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(SkippedFile(str(shown), f"cannot list the folder: {exc.strerror or exc}"))
            continue
        names, subfolders = [], []
        for entry in entries:
            try:
                is_folder = entry.is_dir()
            except OSError:  # a link to itself: not a folder, and no .osu either
                is_folder = False
            if not is_folder:
                names.append(entry.name)
            elif entry.is_symlink():
                continue
            elif excluded is None or here / entry.name != excluded:  # never read the dataset being written
                subfolders.append(entry.name)
        for name in names:
            if name.lower().endswith(".osz"):
                yield Source("osz", here / name, shown / name)
        if any(name.lower().endswith(".osu") for name in names):
            yield Source("folder", here, shown)
        stack.extend((here / name, shown / name, depth + 1) for name in reversed(subfolders))


# ----------------------------------------------------------------------------------------------- names

def _sanitized(text: str, replacement: str) -> str:
    """NFC text with what Windows refuses in names (and control characters) replaced."""
    text = unicodedata.normalize("NFC", text)
    return "".join(replacement if ch in INVALID_NAME_CHARS or ord(ch) < 32 or ch == "\x7f" else ch for ch in text)


def _cut_to_bytes(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def set_folder_name(set_id: int, artist: str, title: str) -> str:
    """`<SetId> <Artist> - <Title>` as Mapperator names set folders (no '.', no characters Windows
    refuses, shortened); local sets (negative ids) start with `local<digits>` instead."""
    prefix = str(set_id) if set_id > 0 else f"local{-set_id}"
    body = " - ".join(part for part in (artist.strip(), title.strip()) if part)
    body = " ".join(_sanitized(body, "").replace(".", "").split())
    name = f"{prefix} {body}" if body else prefix
    return _cut_to_bytes(name, MAX_FOLDER_NAME_BYTES).rstrip(" ")


def safe_file_name(name: str, fallback: str) -> str:
    """The last part of `name`, made safe on every common filesystem; `fallback` if nothing is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _sanitized(base, "_").strip().rstrip(".")
    if base in ("", ".", ".."):
        return fallback
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        return _cut_to_bytes(base, MAX_FILE_NAME_BYTES)
    suffix = _cut_to_bytes(suffix, 16)
    return _cut_to_bytes(stem, MAX_FILE_NAME_BYTES - len(suffix.encode()) - 1).rstrip(" .") + "." + suffix


def _unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `stem (2).ext`, ... so that no two files of a folder differ only in case."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidate, number = name, 1
    while candidate.lower() in taken:
        number += 1
        candidate = f"{stem} ({number}){dot}{suffix}"
    taken.add(candidate.lower())
    return candidate


def local_id(text: str) -> int:
    """A stable negative id for something osu! gave no id (unsubmitted maps carry 0 or -1)."""
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return -(value % LOCAL_ID_SPAN + 2)


# ----------------------------------------------------------------------------------------------- measuring

def star_ratings(raw: bytes) -> tuple[list[float], int]:
    """Star rating at each of `mmrs.STAR_RATING_RATES`, and the max combo (nomod), from rosu-pp."""
    import rosu_pp_py as rosu

    rosu_map = rosu.Beatmap(bytes=raw)
    stars, max_combo = [], 0
    for rate in mmrs.STAR_RATING_RATES:
        attributes = rosu.Difficulty(clock_rate=rate).calculate(rosu_map)
        if not math.isfinite(attributes.stars) or attributes.stars < 0:
            raise ValueError(f"star rating {attributes.stars} at rate {rate}")
        stars.append(float(attributes.stars))
        if rate == 1.0:
            max_combo = int(attributes.max_combo)
    return stars, max_combo


def audio_seconds(path: Path) -> float:
    """Duration from the file header (soundfile reads mp3, ogg, wav, flac without decoding)."""
    import soundfile

    from models.audio.loading import quiet_native_stderr

    if path.stat().st_size == 0:
        raise ValueError("the file is empty")
    with quiet_native_stderr():  # the mp3 decoder prints notes about odd frames straight to fd 2
        info = soundfile.info(str(path))
    if info.samplerate <= 0 or info.frames <= 0:
        raise ValueError("holds no samples")
    return info.frames / info.samplerate


def find_file(root: Path, name: str) -> Path | None:
    """`name` (relative, maybe with folders) under `root`, each part matched ignoring case; None when
    it is not there or would lead outside `root`."""
    parts = PurePosixPath(name.strip().replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]:
        return None
    current = root
    for part in parts:
        exact = current / part
        if exact.exists():
            current = exact
            continue
        try:
            matches = sorted(p for p in current.iterdir() if p.name.lower() == part.lower())
        except OSError:
            return None
        if not matches:
            return None
        current = matches[0]
    return current if current.is_file() else None


def header_audio_filename(raw: bytes) -> str:
    """The `AudioFilename:` of a .osu file's [General] section, read as the parser reads it ("" if none)."""
    section, value = "", ""
    for line in decode_text(raw).splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            if section == "[General]":
                break
            section = line
        elif section == "[General]" and line.startswith("AudioFilename") and ":" in line:
            key, _, text = line.partition(":")
            if key.strip() == "AudioFilename":
                value = text.strip()
    return value


def _object_counts(beatmap: Beatmap) -> tuple[int, int, int]:
    """Circles, sliders (mania hold notes count here, as the osu! API counts them) and spinners."""
    circles = sliders = spinners = 0
    for obj in beatmap.hit_objects:
        if isinstance(obj, Circle):
            circles += 1
        elif isinstance(obj, (Slider, HoldNote)):
            sliders += 1
        elif isinstance(obj, Spinner):
            spinners += 1
    return circles, sliders, spinners


def _reason(exc: BaseException, label: str) -> str:
    """The exception's message without the file name the report already shows."""
    text = str(exc) or type(exc).__name__
    if text.startswith(label):
        text = text[len(label):].lstrip(": ")
    return text


@dataclass
class _Parsed:
    """What a row takes from a parsed beatmap: small, so a worker process sends it back quickly (the
    whole `Beatmap` with its objects costs more to pickle than to parse)."""

    metadata: object  # tokenization.beatmap.Metadata
    difficulty: object  # tokenization.beatmap.Difficulty
    mode: int
    counts: tuple[int, int, int]  # circles, sliders, spinners

    @classmethod
    def of(cls, beatmap: Beatmap) -> _Parsed:
        return cls(beatmap.metadata, beatmap.difficulty, int(beatmap.mode), _object_counts(beatmap))


@dataclass
class _Candidate:
    """A beatmap that parsed, has audio and a star rating: what it takes to become a row."""

    label: str
    name: str  # its file name in the source
    raw: bytes
    beatmap: _Parsed
    checksum: str  # MD5 of the file, as osu! and the API compute it
    audio: Path
    audio_duration: float
    stars: list[float]
    max_combo: int


# ----------------------------------------------------------------------------------------------- preparing

@dataclass
class Prepared:
    """What reading one source gave, before anything is placed in the dataset: no dataset state is
    needed to make it, so sources are prepared in any order, in worker processes (`--workers`)."""

    candidates: list[_Candidate]
    skipped: list[SkippedFile]  # in the order a serial build lists them
    extracted: Path | None = None  # an archive's extracted files, removed once the sets are placed


def prepare_source(source: Source, extracted: Path) -> Prepared:
    """Extract (an .osz, into `extracted`), parse, find audio, rate: every failure becomes a skipped file."""
    if source.kind != "osz":
        files = sorted(source.path.glob("*.osu")) if source.kind == "folder" else [source.path]
        files = [f for f in files if f.is_file()]
        shown = source.shown if source.kind == "folder" else source.shown.parent
        return Prepared(*_candidates([(str(shown / f.name), f, f.parent) for f in files]))
    shutil.rmtree(extracted, ignore_errors=True)
    try:
        try:
            from tokenization.osz import extract_osz

            written = extract_osz(source.path, extracted)
        except MapperInputError as exc:  # corrupt, encrypted or unsafe archives (osz maps every library error)
            shutil.rmtree(extracted, ignore_errors=True)
            return Prepared([], [SkippedFile(str(source.shown), _reason(exc, str(source.path)))])
        root = extracted.resolve()
        members = sorted(p for p in written if p.suffix.lower() == ".osu")
        entries = [(f"{source.shown}:{p.relative_to(root).as_posix()}", p, root) for p in members]
        empty = [] if entries else [SkippedFile(str(source.shown), "archive holds no .osu file")]
        candidates, skipped = _candidates(entries)
        return Prepared(candidates, empty + skipped, extracted)
    except BaseException:
        shutil.rmtree(extracted, ignore_errors=True)
        raise


def _candidates(entries: list[tuple[str, Path, Path]]) -> tuple[list[_Candidate], list[SkippedFile]]:
    """Parse, find audio, rate; every failure becomes a skipped file."""
    candidates, durations, skipped = [], {}, []
    for label, path, audio_root in entries:
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise MapperInputError(f"too large for a beatmap ({size} bytes)")
            raw = path.read_bytes()
        except OSError as exc:
            skipped.append(SkippedFile(label, f"cannot read: {exc.strerror or exc}"))
            continue
        except MapperInputError as exc:
            skipped.append(SkippedFile(label, _reason(exc, label)))
            continue
        # Audio first: it is found from one header line, parsing the whole file takes much longer.
        audio_name = header_audio_filename(raw)
        if not audio_name:
            skipped.append(SkippedFile(label, "names no audio file (no AudioFilename in [General])"))
            continue
        audio = find_file(audio_root, audio_name)
        if audio is None:
            skipped.append(SkippedFile(label, f"audio file {audio_name!r} is not beside it"))
            continue
        try:
            beatmap = parse_beatmap(raw, path=label)
        except MapperInputError as exc:
            skipped.append(SkippedFile(label, _reason(exc, label)))
            continue
        if audio not in durations:
            try:
                durations[audio] = audio_seconds(audio)
            except Exception as exc:  # noqa: BLE001 - soundfile raises LibsndfileError, RuntimeError, ...
                durations[audio] = f"audio file {audio_name!r} is unreadable ({exc})"
        if isinstance(durations[audio], str):
            skipped.append(SkippedFile(label, durations[audio]))
            continue
        try:
            stars, max_combo = star_ratings(raw)
        except Exception as exc:  # noqa: BLE001 - rosu-pp raises its own ParseError, ConvertError, ...
            skipped.append(SkippedFile(label, f"rosu-pp cannot rate it ({exc})"))
            continue
        candidates.append(_Candidate(label, path.name, raw, _Parsed.of(beatmap), hashlib.md5(raw).hexdigest(), audio,
                                     durations[audio], stars, max_combo))
    return candidates, skipped



# ----------------------------------------------------------------------------------------------- building

def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # same filesystem: no bytes copied
    except OSError:
        shutil.copy2(source, target)


class _BuildLock:
    """One build per output folder; a lock left by a process that is gone is taken over."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / LOCK_FILE

    def __enter__(self) -> _BuildLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and owner != os.getpid() and _process_alive(owner):
                    raise MapperInputError(f"{self.path.parent}: another build (process {owner}) is writing here") from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            return self
        raise MapperInputError(f"{self.path}: cannot take the build lock")

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Builder:
    def __init__(self, out_dir: Path):
        import pyarrow as pa

        self.out = out_dir
        self.schema = mmrs.metadata_schema()
        if mmrs.metadata_path(out_dir).exists():
            table = mmrs.read_metadata_table(out_dir)
            if mmrs.BUILD_STATE_KEY not in (table.schema.metadata or {}):
                raise MapperInputError(f"{out_dir}: holds a dataset this tool did not build; choose a new folder")
            self.state = mmrs.read_build_state(table)
            self.table = table.select(self.schema.names).cast(self.schema)
        else:
            self.state = {"version": mmrs.BUILD_STATE_VERSION, "sources": {}}
            self.table = pa.Table.from_pylist([], schema=self.schema)
        self.pending: list[dict] = []
        self.dirty = False
        self.last_write = time.monotonic()
        self.skipped: list[SkippedFile] = []
        self.sets_added = self.beatmaps_added = 0
        self._index_rows()

    # -- what is in the dataset already: ids, checksums and folders must stay unique

    def _index_rows(self) -> None:
        self.checksums: dict[str, str] = {}
        self.beatmap_ids: dict[int, str] = {}
        self.set_folders: dict[int, str] = {}
        self.folders: set[str] = set()
        columns = self.table.select(["Checksum", "Id", "BeatmapSetId", "BeatmapSetFolder", "BeatmapFile"]).to_pylist()
        for row in columns + self.pending:
            self._remember(row)

    def _remember(self, row: dict) -> None:
        where = f"data/{row['BeatmapSetFolder']}/{row['BeatmapFile']}"
        if row["Checksum"]:
            self.checksums.setdefault(row["Checksum"], where)
        self.beatmap_ids.setdefault(row["Id"], where)
        self.set_folders.setdefault(row["BeatmapSetId"], row["BeatmapSetFolder"])
        self.folders.add(row["BeatmapSetFolder"])

    # -- sources

    def needs_work(self, source: Source) -> bool:
        """Whether `add` will read the source (it is new, changed, or cannot be fingerprinted)."""
        try:
            fingerprint = source.fingerprint()
        except OSError:
            return False  # `add` lists it as unreadable without reading it
        previous = self.state["sources"].get(source.key)
        return previous is None or previous["fingerprint"] != fingerprint

    def add(self, source: Source, prepare: Callable[[], Prepared] | None = None) -> str:
        """Build one source; returns "built", "rebuilt" or "done" (unchanged since an earlier run).
        `prepare` hands over the source's prepared files (from a worker process); by default they are
        prepared here."""
        try:
            fingerprint = source.fingerprint()
        except OSError as exc:
            self.skipped.append(SkippedFile(str(source.shown), f"cannot read: {exc.strerror or exc}"))
            return "built"
        previous = self.state["sources"].get(source.key)
        if previous is not None and previous["fingerprint"] == fingerprint:
            return "done"
        if previous is not None:
            self._forget(previous["folders"])
            del self.state["sources"][source.key]  # until it is built again
            self.dirty = True
        skipped_before, pending_before = len(self.skipped), len(self.pending)
        try:
            prepared = prepare() if prepare is not None else prepare_source(source, self.out / STAGING_DIR / "extracted")
            try:
                self.skipped.extend(prepared.skipped)
                folders = self._place(prepared.candidates)
            finally:
                if prepared.extracted is not None:
                    shutil.rmtree(prepared.extracted, ignore_errors=True)
        except BaseException:
            # Interrupted inside a source: take back the sets it placed, so that the next run builds
            # the whole source again instead of finding half of it "already in the dataset".
            self._forget_pending(pending_before)
            raise
        self.state["sources"][source.key] = {
            "fingerprint": fingerprint, "folders": folders,
            "skipped": [[s.path, s.reason] for s in self.skipped[skipped_before:]],
        }
        self.dirty = True
        return "rebuilt" if previous is not None else "built"

    def _forget(self, folders: list[str]) -> None:
        """Drop the rows and set folders of a source that changed since it was built."""
        import pyarrow as pa
        import pyarrow.compute as pc

        gone = set(folders)
        self.table = self.table.filter(pc.invert(pc.is_in(self.table["BeatmapSetFolder"],
                                                          value_set=pa.array(sorted(gone), pa.string()))))
        self.pending = [row for row in self.pending if row["BeatmapSetFolder"] not in gone]
        for folder in gone:
            shutil.rmtree(mmrs.set_folder_path(self.out, folder), ignore_errors=True)
        self._index_rows()

    def _forget_pending(self, keep: int) -> None:
        placed = {row["BeatmapSetFolder"] for row in self.pending[keep:]}
        self.sets_added -= len(placed)
        self.beatmaps_added -= len(self.pending) - keep
        del self.pending[keep:]
        for folder in placed:
            shutil.rmtree(mmrs.set_folder_path(self.out, folder), ignore_errors=True)
        self._index_rows()

    def _place(self, candidates: list[_Candidate]) -> list[str]:
        """Group into sets (set id and audio), give ids, and write each set folder; returns the folders."""
        groups: dict[tuple[int | None, Path], list[_Candidate]] = {}
        for candidate in candidates:
            file_set_id = candidate.beatmap.metadata.beatmap_set_id
            groups.setdefault((file_set_id if file_set_id > 0 else None, candidate.audio), []).append(candidate)
        # The loader reads one audio per set id: of the groups sharing a set id, the largest keeps it.
        owners: dict[int, tuple[int | None, Path]] = {}
        for key in sorted(groups, key=lambda k: (-len(groups[k]), str(k[1]))):
            if key[0] is not None:
                owners.setdefault(key[0], key)
        folders = []
        for (file_set_id, audio), members in groups.items():
            if file_set_id is not None and owners[file_set_id] != (file_set_id, audio):
                for member in members:
                    self.skipped.append(SkippedFile(member.label, (
                        f"its audio {audio.name!r} differs from that of the other difficulties of set "
                        f"{file_set_id}, and a set has one audio")))
                continue
            folder = self._place_set(file_set_id, audio, members)
            if folder is not None:
                folders.append(folder)
        return folders

    def _place_set(self, file_set_id: int | None, audio: Path, members: list[_Candidate]) -> str | None:
        set_id = file_set_id if file_set_id is not None else local_id(
            "set\0" + audio.name.lower() + "\0" + "\0".join(sorted(m.checksum for m in members)))
        if set_id in self.set_folders:
            for member in members:
                self.skipped.append(SkippedFile(member.label, (
                    f"set {set_id} is already in the dataset (data/{self.set_folders[set_id]})")))
            return None
        first = members[0].beatmap.metadata
        folder = set_folder_name(set_id, first.artist, first.title)
        if folder in self.folders:  # not while set ids are unique; checked because rows' files are never overwritten
            for member in members:
                self.skipped.append(SkippedFile(member.label, f"set folder data/{folder} is already in use"))
            return None
        taken: set[str] = set()
        audio_file = _unique_name(safe_file_name(audio.name, "audio" + audio.suffix.lower()), taken)
        rows, files = [], []
        seen_here: dict[str, str] = {}
        for member in members:
            earlier = self.checksums.get(member.checksum) or seen_here.get(member.checksum)
            if earlier is not None:
                self.skipped.append(SkippedFile(member.label, f"identical to {earlier}"))
                continue
            file_id = member.beatmap.metadata.beatmap_id
            beatmap_id = file_id if file_id > 0 else local_id("beatmap\0" + member.checksum)
            if beatmap_id in self.beatmap_ids or any(r["Id"] == beatmap_id for r in rows):
                where = self.beatmap_ids.get(beatmap_id, f"data/{folder}")
                self.skipped.append(SkippedFile(member.label, f"beatmap id {beatmap_id} is already in the dataset ({where})"))
                continue
            name = _unique_name(safe_file_name(member.name, f"{beatmap_id}.osu"), taken)
            seen_here[member.checksum] = f"data/{folder}/{name}"
            rows.append(self._row(member, set_id, beatmap_id, folder, name, audio_file))
            files.append((name, member.raw))
        if not rows:
            return None
        staged = self.out / STAGING_DIR / "set"
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        _link_or_copy(audio, staged / audio_file)
        for name, raw in files:
            (staged / name).write_bytes(raw)
        final = mmrs.set_folder_path(self.out, folder)
        if final.exists():  # left by an interrupted run: no row points into it
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        for row in rows:
            self.pending.append(row)
            self._remember(row)
        self.sets_added += 1
        self.beatmaps_added += len(rows)
        return folder

    @staticmethod
    def _row(member: _Candidate, set_id: int, beatmap_id: int, folder: str, name: str, audio_file: str) -> dict:
        meta, difficulty = member.beatmap.metadata, member.beatmap.difficulty
        mode = member.beatmap.mode
        circles, sliders, spinners = member.beatmap.counts
        return {
            "Artist": meta.artist, "ArtistUnicode": meta.artist_unicode, "Title": meta.title,
            "TitleUnicode": meta.title_unicode, "Creator": meta.creator, "Source": meta.source,
            "Tags": " ".join(meta.tags), "BeatmapSetId": set_id, "Id": beatmap_id,
            "Mode": mmrs.MODE_NAMES[mode], "ModeInt": mode, "Version": meta.version, "Checksum": member.checksum,
            "Accuracy": difficulty.overall_difficulty, "Ar": difficulty.approach_rate,
            "Cs": difficulty.circle_size, "Drain": difficulty.hp_drain_rate,
            "DifficultyRating": member.stars[mmrs.NOMOD_RATE_INDEX], "StarRating": member.stars,
            "MaxCombo": member.max_combo, "CountCircles": circles, "CountSliders": sliders,
            "CountSpinners": spinners, "AudioFile": audio_file, "BeatmapSetFolder": folder, "BeatmapFile": name,
            "AudioDuration": member.audio_duration,
        }

    # -- writing

    def maybe_checkpoint(self) -> None:
        if time.monotonic() - self.last_write >= CHECKPOINT_SECONDS:
            self.commit()

    def commit(self) -> None:
        """Write rows and state if anything changed (atomically; see `mmrs.write_metadata_table`)."""
        import pyarrow as pa

        if not self.dirty and mmrs.metadata_path(self.out).exists():
            return
        if self.pending:
            self.table = pa.concat_tables([self.table, pa.Table.from_pylist(self.pending, schema=self.schema)])
            self.pending = []
        mmrs.write_metadata_table(self.out, self.table, self.state)
        self.dirty = False
        self.last_write = time.monotonic()

    @property
    def total_beatmaps(self) -> int:
        return self.table.num_rows + len(self.pending)

    @property
    def total_sets(self) -> int:
        return len(self.set_folders)


def _check_out_dir(out: Path) -> None:
    """Refuse a folder holding anything but a dataset (or the remains of a first run that stopped)."""
    if out.exists() and not out.is_dir():
        raise MapperInputError(f"{out}: exists and is not a folder")
    if not out.exists() or mmrs.metadata_path(out).exists():
        return
    foreign = [p.name for p in out.iterdir() if p.name != mmrs.DATA_DIR and not p.name.startswith(".")]
    if foreign:
        raise MapperInputError(f"{out}: is not empty and holds no dataset ({foreign[0]} ...); choose a new folder")


def build_dataset(sources: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
                  progress: Progress | None = None, workers: int = 0) -> BuildReport:
    """Build (or continue building) an MMRS dataset in `out_dir` from `.osz` files and `.osu` folders;
    `workers` > 1 prepares sources in that many processes (`training.dataset_workers`), same result."""
    started = time.perf_counter()
    out = Path(out_dir)
    _check_out_dir(out)
    too_deep: list[SkippedFile] = []
    found = find_sources(sources, exclude=out, skipped=too_deep)
    (out / mmrs.DATA_DIR).mkdir(parents=True, exist_ok=True)
    counts = {"built": 0, "rebuilt": 0, "done": 0}
    with _BuildLock(out):
        builder = _Builder(out)
        builder.skipped.extend(too_deep)
        try:
            with contextlib.ExitStack() as stack:
                preparer = None
                if workers > 1:
                    from training.dataset_workers import SourcePreparer

                    preparer = stack.enter_context(SourcePreparer(found, builder.needs_work, prepare_source,
                                                                   out / STAGING_DIR, workers))
                for index, source in enumerate(found):
                    counts[builder.add(source, preparer.prepare(index)) if preparer else builder.add(source)] += 1
                    builder.maybe_checkpoint()
                    if progress is not None:
                        progress("building", index + 1, len(found))
        finally:
            builder.commit()  # keep what is finished, also when interrupted
            shutil.rmtree(out / STAGING_DIR, ignore_errors=True)
    return BuildReport(
        out_dir=out, sources=len(found), sources_already_built=counts["done"], sources_rebuilt=counts["rebuilt"],
        sets_added=builder.sets_added, beatmaps_added=builder.beatmaps_added, skipped=builder.skipped,
        total_sets=builder.total_sets, total_beatmaps=builder.total_beatmaps,
        seconds=time.perf_counter() - started)
