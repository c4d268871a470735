"""Option values of `mapper generate` (as the command, the wizard or a web form holds them) to a
verified `GenerateRequest`: the values parsed (game mode name, times, star-rating list), the
reference's defaults filled in, then `GenerateRequest.verify()`. No typer or terminal needed:
`request_from_options` raises `RequestProblems` carrying every (option, message) pair, its text
the first message, the line the command prints."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from mapperator_cli.errors import UserError
from mapperator_cli.generate_options import OPTIONS, request_fields
from models.pipeline.request import (
    GAMEMODES,
    GenerateRequest,
    RequestProblems,
    gamemode_number,
    star_ratings_problem,
)
from tokenization.errors import MapperInputError

FILE_STAGES = ("files", "trace", "output")  # GenerateRequest checks that look at files and folders


def parse_time_ms(text: str | None, option: str) -> float | None:
    """Milliseconds from `83500`, `1:23.5` or the editor's `01:23:500`."""
    if text is None:
        return None
    text = text.strip()
    editor = re.fullmatch(r"(\d+):(\d{2}):(\d{3})", text)
    if editor:
        minutes, seconds, millis = map(int, editor.groups())
        return float(minutes * 60_000 + seconds * 1000 + millis)
    clock = re.fullmatch(r"(\d+):(\d{1,2}(?:\.\d+)?)", text)
    if clock:
        return int(clock.group(1)) * 60_000 + float(clock.group(2)) * 1000
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{option} takes milliseconds, m:ss.s or mm:ss:mmm, not {text!r}") from None
    if value < 0:
        raise UserError(f"{option} must not be negative")
    return value


def parse_difficulties(text: str | None) -> list[float]:
    """Star ratings from `5.5` or `2,3.5,5` (in the order given), each in its range, no repeats."""
    if text is None:
        return []
    values = []
    for part in text.split(","):
        try:
            values.append(float(part.strip()))
        except ValueError:
            raise UserError(f"--difficulty takes star ratings such as 5.5 or 2,3.5,5, not {text!r}") from None
    problem = star_ratings_problem(values)
    if problem is not None:
        raise UserError(problem)
    return values


def option_values(values: dict) -> dict:
    """`values` with every option it leaves out at the command's default."""
    defaults = {option.name: list(option.default) if isinstance(option.default, list) else option.default
                for option in OPTIONS}
    return defaults | values


def request_from_options(audio: Path | None, values: dict) -> GenerateRequest:
    """The verified request for AUDIO and the option values (by option name, as `mapper generate`
    takes them; missing ones at their defaults). The model is located last, once all else is right.
    Raises RequestProblems: every problem found, in the order the command reports them."""
    request, problems = _checked(audio, values, files=True)
    if problems:
        raise RequestProblems(problems)
    from models.model_source import model_path

    # before the heavy imports: a missing model is reported at once
    return replace(request, model=model_path(option_values(values)["model"]))


def option_problems(audio: Path | None, values: dict, *, files: bool = True) -> list[tuple[str, str]]:
    """Every (option, message) problem of the option values, in the command's order; empty when
    they make a good request. `files=False` judges the values alone: no file is read or looked for
    (the reference's defaults are then not filled in)."""
    return _checked(audio, values, files=files)[1]


def _checked(audio: Path | None, values: dict, *, files: bool) -> tuple[GenerateRequest | None, list]:
    values = option_values(values)
    beatmap = values["beatmap"]
    reference = None
    if files and beatmap is not None and beatmap.is_file() and beatmap.suffix.lower() == ".osu":
        try:
            reference = _read_reference(beatmap)
        except MapperInputError as exc:  # an unreadable reference: nothing else can be judged
            return None, [("--beatmap", str(exc))]
    if audio is None:
        if beatmap is None:
            return None, [("audio", "give the song to map (AUDIO), or a --beatmap whose audio to use")]
        audio = beatmap.parent / reference.general.audio_filename if reference is not None else beatmap
    gamemode = values["gamemode"]
    if gamemode is None:
        gamemode = next((k for k, v in GAMEMODES.items() if reference and v == int(reference.mode)), "osu")
    keycount = values["keycount"]
    if keycount is None:
        keycount = int(reference.difficulty.circle_size) if reference and int(reference.mode) == 3 else 4
    before = {"span": [], "difficulties": []}  # parse problems, reported where the command reports them
    start_ms = _parsed(before["span"], "--start-time", lambda: parse_time_ms(values["start_time"], "--start-time"))
    end_ms = _parsed(before["span"], "--end-time", lambda: parse_time_ms(values["end_time"], "--end-time"))
    difficulties = _parsed(before["difficulties"], "--difficulty", lambda: _difficulty_list(values["difficulty"])) or []
    out = values["out"] if values["out"] is not None else (beatmap.parent if beatmap is not None else Path("."))
    request = GenerateRequest(
        audio=audio, model=values["model"] or "", out_dir=out, gamemode=gamemode_number(gamemode),
        keycount=keycount, difficulty=difficulties[0] if len(difficulties) == 1 else None,
        mapset=difficulties if len(difficulties) > 1 else [], reference=beatmap,
        in_context=[c.lower() for c in values["in_context"]], output_types=[t.lower() for t in values["output_type"]],
        descriptors=list(values["descriptor"]), negative_descriptors=list(values["negative_descriptor"]),
        start_time=start_ms, end_time=end_ms, **request_fields(values))
    problems = []
    for stage, found in request.problem_stages():
        problems += before.get(stage, [])
        if files or stage not in FILE_STAGES:
            problems += found
    return request, problems


def _difficulty_list(text: str | None) -> list[float]:
    """The star ratings, parsed only: their ranges are the request's to check."""
    if text is None:
        return []
    try:
        return [float(part.strip()) for part in text.split(",")]
    except ValueError:
        raise UserError(f"--difficulty takes star ratings such as 5.5 or 2,3.5,5, not {text!r}") from None


def _parsed(problems: list, option: str, parse):
    """`parse()`, or None with its problem noted."""
    try:
        return parse()
    except UserError as exc:
        problems.append((option, str(exc)))
        return None


def _read_reference(beatmap: Path):
    from tokenization import read_beatmap

    return read_beatmap(beatmap)
