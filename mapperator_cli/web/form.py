"""The generate form as the page gets it, and its values back as a `mapper generate` command line.

The schema is the option table (`mapperator_cli.generate_options`) read field by field; values are
turned into the command's arguments, parsed by the command's own Typer parser and checked by the
command's own checks, so the page refuses exactly what the CLI refuses, with the CLI's message."""

from __future__ import annotations

import re
from pathlib import Path

from mapperator_cli.generate_options import AUDIO_HELP, OPTIONS, Check, Option, Range
from profiles import limits

SERVER_SET = ("progress", "quiet")  # the server sets these itself: --progress json, never --quiet
AUDIO = "audio"  # the form's field for the command's AUDIO argument


def field_kind(option: Option) -> str:
    """How the page edits the option: flag (on/off), switch (default/on/off), list, int, float, path or text."""
    kind = option.type
    if kind is bool:
        return "flag"
    if kind == bool | None:
        return "switch"
    if kind == list[str]:
        return "list"
    if kind in (int, int | None):
        return "int"
    if kind in (float, float | None):
        return "float"
    if kind == Path | None:
        return "path"
    return "text"


def _negative_flag(option: Option) -> str | None:
    first = option.flags if isinstance(option.flags, str) else option.flags[0]
    return first.split("/")[1] if "/" in first else None


def _check_schema(check: Range | Check | None) -> dict | None:
    if isinstance(check, Range):
        return {"low": check.low, "high": check.high}
    if isinstance(check, Check):
        return {"rule": check.message}
    return None


def form_schema() -> dict:
    """Every option of the table, in its order, with what the page needs to draw and explain it."""
    fields = [{"name": AUDIO, "flag": None, "kind": "path", "group": "Song", "help": AUDIO_HELP, "default": None,
               "choices": None, "modes": None, "range": None, "server": False}]
    for option in OPTIONS:
        fields.append({
            "name": option.name, "flag": option.flag, "negative_flag": _negative_flag(option),
            "kind": field_kind(option), "group": option.panel, "help": option.help,
            "default": None if option.default == [] else option.default,
            "choices": list(option.choices) if option.choices else None,
            "modes": list(option.modes) if option.modes else None,
            "range": _check_schema(option.check or limits.LIMITS.get(option.quantity)),
            "server": option.name in SERVER_SET})
    groups = list(dict.fromkeys(f["group"] for f in fields))
    return {"fields": fields, "groups": groups}


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def command_args(values: dict) -> list[str]:
    """`generate` and its arguments for the form's values (blank ones left out, as the CLI's defaults)."""
    args = ["generate"]
    audio = values.get(AUDIO)
    if not _blank(audio):
        args.append(absolute(audio))
    for option in OPTIONS:
        value = values.get(option.name)
        if option.name in SERVER_SET or _blank(value):
            continue
        kind = field_kind(option)
        if kind == "flag":
            if value is True or str(value).lower() in ("true", "on", "1", "yes"):
                args.append(option.flag)
        elif kind == "switch":
            text = str(value).lower()
            if value is True or text in ("true", "on", "yes"):
                args.append(option.flag)
            elif value is False or text in ("false", "off", "no"):
                args.append(_negative_flag(option))
        elif kind == "list":
            items = value if isinstance(value, list) else str(value).split(",")
            for item in items:
                if str(item).strip():
                    args += [option.flag, str(item).strip()]
        elif kind == "path":
            args += [option.flag, absolute(value)]
        else:
            args += [option.flag, str(value).strip()]
    return args


def absolute(path) -> str:
    """A path typed in the page, made absolute against the server's folder, so the command line a card
    shows means the same wherever it is pasted."""
    return str(Path(str(path).strip()).expanduser().absolute())


FLAG_NAMES = {flag: o.name for o in OPTIONS for flag in filter(None, (o.flag, _negative_flag(o)))}
_FLAG = re.compile(r"--[a-z][a-z0-9-]*")


def field_of(message: str) -> str:
    """The form field a CLI message is about: the first option flag it names, else the song."""
    for flag in _FLAG.findall(message):
        if flag in FLAG_NAMES:
            return FLAG_NAMES[flag]
    return AUDIO


def check_args(args: list[str]) -> dict[str, str]:
    """{field: the CLI's message} for every problem found in a `generate` command line, without running it:
    the command's own parser first, then `GenerateRequest.verify()` as the command asks it."""
    import typer

    from mapperator_cli.errors import UserError, one_line
    from mapperator_cli.generate_request import request_from_options
    from mapperator_cli.web.commands import parser
    from models.pipeline.request import RequestProblems
    from tokenization.errors import MapperInputError

    try:
        context = parser("generate").make_context("generate", list(args[1:]))
    except typer.TyperException as exc:  # the parser's own refusals: bad numbers, unknown options
        message = one_line(exc.format_message() if hasattr(exc, "format_message") else exc)
        return {field_of(message): message}
    values = dict(context.params)
    audio = values.pop(AUDIO)
    try:
        request_from_options(audio, values)
    except RequestProblems as exc:
        errors: dict[str, str] = {}
        for flag, message in exc.problems:
            errors.setdefault(FLAG_NAMES.get(flag, field_of(message) if flag != AUDIO else AUDIO), message)
        return errors
    except (UserError, MapperInputError) as exc:  # the model, located last
        return {"model": one_line(exc)}
    return {}
