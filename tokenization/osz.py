"""`.osz` mapsets (ZIP archives): reading the beatmaps inside, safe extraction, writing.

Extraction refuses what could escape or exhaust the target: absolute paths, `..` parts, links,
too many members, too many bytes in all or in one member, and archives that inflate far more
than a real mapset does (zip bombs, also "stealth" ones made of many members just under the
per-member check), and compression methods other than store and deflate. Every error of the archive libraries (zipfile, zlib, lzma, bz2: corrupt data,
encryption, unknown methods, truncation) becomes one MapperInputError naming the archive; errors
writing the extracted files (a full disk) are left as they are, since they are not the archive's.
"""

from __future__ import annotations

import contextlib
import errno
import lzma
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from tokenization.atomic_files import write_atomic, write_fresh
from tokenization.beatmap import Beatmap
from tokenization.errors import MapperInputError, ParseError
from tokenization.osu_reader import MAX_FILE_BYTES, parse_beatmap

# Real mapsets: a few hundred files (storyboards reach thousands), audio, images and a video of at
# most some hundred MB, almost all already compressed, so the archive barely shrinks them.
MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 1024**3  # 1 GiB uncompressed in all
MAX_MEMBER_BYTES = 512 * 1024**2  # one video
MAX_COMPRESSION_RATIO = 200  # larger ratios on big members are treated as zip bombs
RATIO_CHECK_MIN_BYTES = 1024 * 1024
MAX_ARCHIVE_RATIO = 20  # uncompressed / compressed for the whole archive (text-only sets reach ~10)
ARCHIVE_RATIO_MIN_BYTES = 64 * 1024**2  # below this, any ratio is harmless
# What zipfile and the decompressors raise on corrupt, truncated, encrypted or odd archives.
ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError,
                  NotImplementedError, lzma.LZMAError, zlib.error, struct.error, OverflowError, IndexError)
# osu! writes stored or deflated members; others (LZMA, bzip2) would run decompressors whose memory the
# archive's own header decides (an LZMA dictionary of gigabytes), for no real mapset.
SUPPORTED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # the destination's fault, not the archive's


@contextlib.contextmanager
def _reading(path, member: str | None = None) -> Iterator[None]:
    """Turn any library error while reading the archive into one line naming it (and the member)."""
    try:
        yield
    except MapperInputError:
        raise
    except ARCHIVE_ERRORS as exc:
        where = f"{path}:{member}" if member else str(path)
        detail = str(exc) or ("truncated data" if isinstance(exc, EOFError) else type(exc).__name__)
        if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError) and member is None:
            raise MapperInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
        raise MapperInputError(f"{where}: not a readable .osz archive ({detail})") from None


def _open(path: str | os.PathLike) -> zipfile.ZipFile:
    with _reading(path):
        return zipfile.ZipFile(path)


def _member_bytes(archive: zipfile.ZipFile, member: zipfile.ZipInfo, path) -> Iterator[bytes]:
    """A member's content in chunks, never more than its header declares."""
    if member.flag_bits & 0x1:  # zipfile's own message would print the whole ZipInfo
        raise MapperInputError(f"{path}:{member.filename}: member is encrypted (password protected)")
    with _reading(path, member.filename):
        source = archive.open(member)
    with source:
        remaining = member.file_size
        while True:
            with _reading(path, member.filename):
                chunk = source.read(1 << 20)
            if not chunk:
                return
            remaining -= len(chunk)
            if remaining < 0:  # the header lied about the size
                raise MapperInputError(f"{path}: member {member.filename!r} is larger than declared")
            yield chunk


def _is_junk(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(p == "__MACOSX" for p in parts) or PurePosixPath(name).name.startswith("._")


def _safe_members(archive: zipfile.ZipFile, path) -> list[zipfile.ZipInfo]:
    members = [m for m in archive.infolist() if not m.is_dir() and not _is_junk(m.filename)]
    if len(members) > MAX_MEMBERS:
        raise MapperInputError(f"{path}: too many files in archive ({len(members)} > {MAX_MEMBERS})")
    total = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members)
    if total > ARCHIVE_RATIO_MIN_BYTES and total > MAX_ARCHIVE_RATIO * max(packed, 1):
        raise MapperInputError(f"{path}: archive inflates {total} bytes from {packed} "
                               f"(more than {MAX_ARCHIVE_RATIO} times; a zip bomb?)")
    total = 0
    for member in members:
        name = member.filename.replace("\\", "/")
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or (len(name) > 1 and name[1] == ":"):
            raise MapperInputError(f"{path}: unsafe path in archive: {member.filename!r}")
        if member.compress_type not in SUPPORTED_METHODS:  # checked before any decompressor is made
            raise MapperInputError(f"{path}: member {member.filename!r} uses zip compression method "
                                   f"{member.compress_type}; an .osz holds stored or deflated files only")
        mode = member.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise MapperInputError(f"{path}: archive holds a symbolic link: {member.filename!r}")
        if member.file_size > MAX_MEMBER_BYTES:
            raise MapperInputError(f"{path}: member {member.filename!r} is too large ({member.file_size} bytes; "
                                   f"limit {MAX_MEMBER_BYTES})")
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
            data = b"".join(_member_bytes(archive, member, path))
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
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as sink:
                    for chunk in _member_bytes(archive, member, path):
                        sink.write(chunk)
            except OSError as exc:
                if exc.errno in DISK_ERRNOS:
                    raise  # the destination is full or read-only: every archive would fail the same way
                # a member name this filesystem refuses (too long, a file where a folder should be, ...)
                raise MapperInputError(f"{path}: cannot extract {member.filename!r}: {exc.strerror or exc}") from None
            written.append(target)
    return written


def write_osz(files: dict[str, bytes | str | os.PathLike], path: str | os.PathLike, *,
              overwrite: bool = False, new_name_if_taken: bool = False) -> Path:
    """Write an archive atomically: `files` maps member names to bytes, text, or a file on disk.
    A taken name is replaced only with `overwrite`; with `new_name_if_taken` the first free name
    (`path`, `stem (2).osz`, ...) is reserved atomically; otherwise it raises FileExistsError."""
    path = Path(path)

    def fill(temp: Path) -> None:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                if isinstance(content, (bytes, str)) and not isinstance(content, os.PathLike):
                    archive.writestr(name, content)
                else:
                    archive.write(content, name)

    if new_name_if_taken and not overwrite:
        return write_fresh(path.parent, path.stem, path.suffix, fill)
    return write_atomic(path, fill, overwrite=overwrite)
