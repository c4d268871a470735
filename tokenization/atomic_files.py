"""Writing files so that no reader ever sees half of one and no run replaces another's.

A file is written under a temporary name in its folder, then published in one step: `os.replace`
when the caller asked to overwrite, otherwise a hard link to the final name, which the kernel
refuses when that name exists (two runs into one folder cannot both get it, however slow either
is). A free name ("map.osu", "map (2).osu", ...) is found by trying that link, not by asking
whether the name exists first. Filesystems without hard links (FAT, some network mounts) get an
exclusive create of the final name instead, then the rename onto that reserved file.

Temporary files are created like any tool's output (mode 0666 less the umask), unlike
`tempfile.mkstemp`'s 0600, so the published file has the permissions a user expects.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from tokenization.safe_text import cut_to_bytes

TEMP_PREFIX_BYTES = 60  # how much of the final name a temporary name shows
MAX_FREE_NAME_TRIES = 10_000
DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


def write_atomic(path: str | os.PathLike, fill: Callable[[Path], None], *, overwrite: bool = False) -> Path:
    """`fill(temporary)` writes the content; the file then appears at `path` whole, or not at all.
    Without `overwrite`, an existing `path` (even one created meanwhile) raises FileExistsError."""
    path = Path(path)
    temp = _filled_temporary(path, fill)
    try:
        if overwrite:
            os.replace(temp, path)
        elif not _publish_new(temp, path):
            raise FileExistsError(f"{path} already exists (not overwritten)")
    finally:
        temp.unlink(missing_ok=True)
    return path


def write_fresh(folder: Path, stem: str, suffix: str, fill: Callable[[Path], None]) -> Path:
    """Like `write_atomic`, under the first free name of `stem + suffix`, `stem (2) + suffix`, ..."""
    temp = _filled_temporary(folder / f"{stem}{suffix}", fill)
    try:
        for counter in range(1, MAX_FREE_NAME_TRIES + 1):
            path = folder / (f"{stem}{suffix}" if counter == 1 else f"{stem} ({counter}){suffix}")
            if _publish_new(temp, path):
                return path
        raise FileExistsError(f"{folder / stem}{suffix}: no free name after {MAX_FREE_NAME_TRIES} tries")
    finally:
        temp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str, *, overwrite: bool = True) -> Path:
    def fill(temp: Path) -> None:
        with open(temp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    return write_atomic(path, fill, overwrite=overwrite)


def _publish_new(temp: Path, path: Path) -> bool:
    """Give `temp`'s content the name `path` unless that name is taken (then False)."""
    try:
        os.link(temp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
    try:  # no hard links here: reserve the name by an exclusive create, then rename onto it
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except FileExistsError:
        return False
    try:
        os.replace(temp, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return True


def _filled_temporary(path: Path, fill: Callable[[Path], None]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shown = cut_to_bytes(path.name, TEMP_PREFIX_BYTES)
    for _ in range(100):
        temp = path.with_name(f".{shown}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # 0666 less the umask
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"{path.parent}: no free temporary name")
    try:
        fill(temp)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            # the destination is what could not be written (shutil.copyfile names its source, a
            # zip or text stream names nothing): the message names the file the user will look for
            exc.filename, exc.filename2 = str(path), None
        raise
    return temp

