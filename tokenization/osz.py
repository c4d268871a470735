"""`.osz` mapsets (ZIP archives): reading the beatmaps inside, safe extraction, writing.

Extraction refuses what could escape or exhaust the target: absolute paths, `..` parts, links,
too many members, too many bytes in all, and members that inflate suspiciously (zip bombs).
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from tokenization.beatmap import Beatmap
from tokenization.errors import MapperInputError, ParseError
from tokenization.osu_reader import MAX_FILE_BYTES, parse_beatmap

MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 2 * 1024**3  # 2 GiB uncompressed
MAX_COMPRESSION_RATIO = 200  # larger ratios on big members are treated as zip bombs
RATIO_CHECK_MIN_BYTES = 1024 * 1024


def _open(path: str | os.PathLike) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise MapperInputError(f"{path}: not a readable .osz archive ({exc})") from None


def _is_junk(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(p == "__MACOSX" for p in parts) or PurePosixPath(name).name.startswith("._")


def _safe_members(archive: zipfile.ZipFile, path) -> list[zipfile.ZipInfo]:
    members = [m for m in archive.infolist() if not m.is_dir() and not _is_junk(m.filename)]
    if len(members) > MAX_MEMBERS:
        raise MapperInputError(f"{path}: too many files in archive ({len(members)} > {MAX_MEMBERS})")
    total = 0
    for member in members:
        name = member.filename.replace("\\", "/")
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or (len(name) > 1 and name[1] == ":"):
            raise MapperInputError(f"{path}: unsafe path in archive: {member.filename!r}")
        mode = member.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise MapperInputError(f"{path}: archive holds a symbolic link: {member.filename!r}")
        total += member.file_size
        if total > MAX_TOTAL_BYTES:
            raise MapperInputError(f"{path}: archive expands beyond {MAX_TOTAL_BYTES} bytes")
        if member.file_size > RATIO_CHECK_MIN_BYTES and member.file_size > MAX_COMPRESSION_RATIO * max(
                member.compress_size, 1):
            raise MapperInputError(f"{path}: suspicious compression ratio for {member.filename!r}")
    return members


def read_osz(path: str | os.PathLike) -> list[tuple[str, Beatmap]]:
    """Every `.osu` in the archive, parsed, with its member name."""
    results = []
    with _open(path) as archive:
        for member in _safe_members(archive, path):
            if not member.filename.lower().endswith(".osu"):
                continue
            if member.file_size > MAX_FILE_BYTES:
                raise ParseError("beatmap in archive is too large", path=f"{path}:{member.filename}")
            data = archive.read(member)
            results.append((member.filename, parse_beatmap(data, path=f"{path}:{member.filename}")))
    return results


def extract_osz(path: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extract safely into `dest` (created); returns the written files."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written = []
    with _open(path) as archive:
        for member in _safe_members(archive, path):
            target = (root / member.filename.replace("\\", "/")).resolve()
            if root not in target.parents:
                raise MapperInputError(f"{path}: unsafe path in archive: {member.filename!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, open(target, "wb") as sink:
                remaining = member.file_size
                while chunk := source.read(1 << 20):
                    remaining -= len(chunk)
                    if remaining < 0:  # the header lied about the size
                        raise MapperInputError(f"{path}: member {member.filename!r} is larger than declared")
                    sink.write(chunk)
            written.append(target)
    return written


def write_osz(files: dict[str, bytes | str | os.PathLike], path: str | os.PathLike, *,
              overwrite: bool = False) -> Path:
    """Write an archive atomically: `files` maps member names to bytes, text, or a file on disk."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists (not overwritten)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                if isinstance(content, (bytes, str)) and not isinstance(content, os.PathLike):
                    archive.writestr(name, content)
                else:
                    archive.write(content, name)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
