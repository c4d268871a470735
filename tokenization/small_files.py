"""Reading the small files a model folder holds (config.json, tokenizer.json, adapter_config.json,
profile.json, card.json) when they may be anything: only regular files are read, and only up to a
size cap, so that a link to /dev/zero cannot fill memory, a FIFO cannot block for ever, and every
fault is one line naming the file (tokenization.errors.MapperInputError).
"""

from __future__ import annotations

import json
import os
import stat

from tokenization.errors import MapperInputError

# Caps, in bytes, far above any real file: a published config.json is ~3 KB; a published
# tokenizer.json, with its beatmap and mapper tables, ~10 MB.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_TOKENIZER_BYTES = 64 * 1024 * 1024

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def not_regular(mode: int) -> str | None:
    """What a file of this st_mode is when it is not a regular file ("a FIFO (named pipe)"), else None."""
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def check_regular(path: str | os.PathLike) -> int:
    """The size in bytes of `path`, a regular file (links followed); one line otherwise."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise MapperInputError(f"{path}: not found{' (a link that leads nowhere)' if os.path.islink(path) else ''}") from None
    except OSError as exc:
        raise MapperInputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    kind = not_regular(info.st_mode)
    if kind is not None:
        raise MapperInputError(f"{path}: is {kind}, not a regular file")
    return info.st_size


def read_small_file(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`. Opened without blocking (a FIFO put in the
    file's place after a check would otherwise wait for a writer) and checked on the open handle."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise MapperInputError(f"{path}: not found{' (a link that leads nowhere)' if os.path.islink(path) else ''}") from None
    except OSError as exc:
        raise MapperInputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        kind = not_regular(info.st_mode)
        if kind is not None:
            raise MapperInputError(f"{path}: is {kind}, not a regular file")
        if info.st_size > max_bytes:
            raise MapperInputError(f"{path}: {info.st_size} bytes, more than the {max_bytes} such a file may hold")
        chunks, size = [], 0
        while size <= max_bytes:  # a file that grows while read is still held to the cap
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise MapperInputError(f"{path}: more than the {max_bytes} bytes such a file may hold")
        return b"".join(chunks)
    except OSError as exc:
        raise MapperInputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: str | os.PathLike, max_bytes: int = MAX_CONFIG_BYTES, kind: type = dict):
    """The JSON value of a small regular file, which must be a `kind` (an object by default). NaN and
    Infinity, which Python's parser accepts but JSON does not, are refused."""
    data = read_small_file(path, max_bytes)
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise MapperInputError(f"{path}: not UTF-8 text (byte {exc.start}); not a JSON file") from None
    except json.JSONDecodeError as exc:
        raise MapperInputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:
        raise MapperInputError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise MapperInputError(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(value, kind):
        wanted = {dict: "an object", list: "a list"}.get(kind, kind.__name__)
        raise MapperInputError(f"{path}: holds {_json_kind(value)}, not {wanted}")
    return value


def _json_kind(value) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "a number"


def excerpt(text: str, limit: int = 160) -> str:
    """`text` on one line for a message: numbers of more than 24 digits shortened ("10000000...
    (301 digits)"), then cut at a word boundary when longer than `limit`, never inside a number."""
    import re

    text = re.sub(r"\d{25,}", lambda m: f"{m.group()[:8]}...({len(m.group())} digits)", " ".join(text.split()))
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[:cut if cut > 0 else limit].rstrip(",;:") + " ..."
