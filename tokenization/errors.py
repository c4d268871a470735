"""Exceptions for bad input. They live here, in the lowest package, so every package can raise them."""

from __future__ import annotations


class MapperInputError(Exception):
    """Input the user gave cannot be used (bad file, bad setting). Reported as one line by the CLI."""


class ParseError(MapperInputError):
    """A beatmap file cannot be parsed; the message names the file, the line and the field."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None):
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        prefix = ":".join(where)
        text = f"{prefix}: {message}" if prefix else message
        if field is not None:
            text += f" (field {field})"
        super().__init__(text)
        self.path = path
        self.line = line
        self.field = field


class AudioError(MapperInputError):
    """An audio file cannot be read, or holds no samples."""
