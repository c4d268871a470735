"""`mapper wizard`: questions in order, ending in the exact `mapper ...` command, shown before it runs.

Every answer is validated as it is typed; the wizard only builds a command line (it never calls
the library itself), so what it runs is exactly what it shows and what a user could type again.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import typer

from mapperator_cli.errors import UserError
from mapperator_cli.generate_options import BY_NAME, answer_check

GAMEMODES = ["osu", "taiko", "catch", "mania"]


class Cancelled(Exception):
    """The user pressed Ctrl-C or chose to cancel."""


class Asker:
    """questionary prompts that raise Cancelled instead of returning None; input/output injectable for tests."""

    def __init__(self, input=None, output=None):
        self.io = {k: v for k, v in (("input", input), ("output", output)) if v is not None}

    def _ask(self, question):
        try:
            answer = question.unsafe_ask()
        except KeyboardInterrupt:
            raise Cancelled from None
        if answer is None:
            raise Cancelled
        return answer

    def text(self, message: str, default: str = "", validate=None) -> str:
        import questionary

        return self._ask(questionary.text(message, default=default, validate=validate, **self.io)).strip()

    def select(self, message: str, choices: list[str], default: str | None = None) -> str:
        import questionary

        return self._ask(questionary.select(message, choices=choices, default=default, **self.io))

    def checkbox(self, message: str, choices: list[str], validate=None) -> list[str]:
        import questionary

        extra = {"validate": validate} if validate is not None else {}
        return self._ask(questionary.checkbox(message, choices=choices, **extra, **self.io))

    def confirm(self, message: str, default: bool = False) -> bool:
        import questionary

        return self._ask(questionary.confirm(message, default=default, **self.io))


# -- validators: True or the message shown under the prompt ------------------------------------
def existing_file(text: str):
    return True if text and Path(text).expanduser().is_file() else "no such file"


def optional_file(text: str):
    return True if not text.strip() else existing_file(text.strip())


def number(low: float, high: float | None = None, *, optional: bool = False, integer: bool = False):
    def check(text: str):
        if not text.strip():
            return True if optional else "a value is needed"
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            return "a whole number is needed" if integer else "a number is needed"
        if value < low or (high is not None and value > high):
            return f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        return True
    return check


def flag(name: str) -> str:
    """The `mapper generate` flag of an option, from the command's own table."""
    return BY_NAME[name].flag


def required(check):
    """`check`, but a blank answer is refused."""
    return lambda text: (check(text) if text.strip() else "a value is needed")


def star_ratings(text: str):
    """One star rating or a list (a mapset), by the command's own rule; blank: unknown."""
    if not text.strip():
        return True
    from mapperator_cli.generate import parse_difficulties

    try:
        parse_difficulties(text)
    except UserError as exc:
        return str(exc)
    return True


def not_empty(text: str):
    return True if text.strip() else "a value is needed"


def time_of_song(optional: bool):
    def check(text: str):
        if not text.strip():
            return True if optional else "a time is needed"
        from mapperator_cli.generate import parse_time_ms

        try:
            parse_time_ms(text, "time")
        except UserError:
            return "milliseconds, m:ss.s or mm:ss:mmm"
        return True
    return check


def one_map_input(chosen: list[str]):
    return "gd and no_hs exclude each other" if {"gd", "no_hs"} <= set(chosen) else True


def _contexts(model: str) -> list[str]:
    """What a local model can take from a reference map (all four when the model is not local)."""
    wanted = ["timing", "kiai", "gd", "no_hs"]
    try:
        from tokenization.vocabulary import Vocabulary

        known = {c.value for c in Vocabulary.load(Path(model).expanduser()).context_sos}
    except Exception:  # noqa: BLE001 - a hub id or an unreadable folder: offer everything, generate checks
        return wanted
    return [c for c in wanted if c in known]


def _descriptors(model: str) -> list[str]:
    """The descriptor names a local model knows (from its tokenizer.json), if any."""
    import json

    path = Path(model).expanduser() / "tokenizer.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    table = data.get("descriptor_idx") or {}
    return sorted(table, key=lambda name: table[name]) if isinstance(table, dict) else []


def _add(argv: list[str], option: str, value: str) -> None:
    if value:
        argv += [option, value]


def ask_generate(a: Asker) -> list[str]:
    argv = ["generate", a.text("Song (audio file):", validate=existing_file)]
    model = a.text("Model (checkpoint folder or hub id):", validate=not_empty)
    argv += [flag("model"), model]
    argv += [flag("gamemode"), a.select("Game mode:", GAMEMODES, default="osu")]
    _add(argv, flag("difficulty"), a.text("Star rating (blank: unknown):", validate=star_ratings))
    _add(argv, flag("year"), a.text("Mapping style of the year (blank: unknown):",
                                    validate=number(2007, 2023, optional=True, integer=True)))
    known = _descriptors(model)
    chosen = a.checkbox("Descriptors to aim for:", known) if known else []
    for name in chosen:
        argv += [flag("descriptor"), name]
    reference = a.text("Reference beatmap for metadata and timing (blank: none):", validate=optional_file)
    if reference:
        argv += [flag("beatmap"), reference]
        argv += _ask_reference(a, model)
    if a.confirm("Change advanced settings?", default=False):
        cfg = a.text("Guidance scale (1: off):", default="1", validate=required(answer_check("cfg_scale")))
        if float(cfg) > 1:
            argv += [flag("cfg_scale"), cfg]
            for name in a.checkbox("Descriptors to steer away from:", [d for d in known if d not in chosen]):
                argv += [flag("negative_descriptor"), name]
        _add(argv, flag("seed"), a.text("Random seed (blank: random):", validate=number(0, optional=True, integer=True)))
        if a.confirm("Greedy decoding (no sampling)?", default=False):
            argv.append(flag("greedy"))
        else:
            _add(argv, flag("temperature"), a.text("Temperature (blank: profile default):",
                                                   validate=answer_check("temperature")))
            _add(argv, flag("top_p"), a.text("Top-p (blank: profile default):", validate=answer_check("top_p")))
        _add(argv, flag("out"), a.text("Output folder (blank: current folder):"))
        if a.confirm("Also write an .osz with the song?", default=False):
            argv.append(flag("export_osz"))
        refine = a.select("Position refinement (diffusion, osu! and catch):",
                          ["as the profile says", "on", "off"], default="as the profile says")
        if refine == "on":
            argv.append(flag("refine"))
            _add(argv, flag("diffusion_model"), a.text("Diffusion model folder (blank: the published one):"))
        elif refine == "off":
            argv.append("--no-" + flag("refine")[2:])
        _add(argv, flag("mapper"), a.text("Follow a mapper's style (osu! user id the model knows; blank: none):",
                                          validate=answer_check("mapper", integer=True)))
        speed = a.select("Windows:", ["one at a time, each continuing the last (best maps)",
                                      "side by side in batches (--parallel: faster, rougher at window edges)"])
        if speed.startswith("side"):
            argv.append(flag("parallel"))
        if a.select("Precision:", ["fp32", "amp (audio encoder in bf16: faster where bf16 is fast)"]) != "fp32":
            argv += [flag("precision"), "amp"]
    _verify_generate(argv)
    return argv


def _verify_generate(argv: list[str]) -> None:
    """The answers together, as `mapper generate` would check them (GenerateRequest.verify): each
    answer was checked as it was typed, but some only contradict each other (a mapset spliced into a
    reference, say). Files are the command's to look at when it runs."""
    import typer.main

    from mapperator_cli.generate import generate
    from mapperator_cli.generate_request import option_problems

    command = typer.Typer()
    command.command()(generate)
    values = dict(typer.main.get_command(command).make_context("generate", list(argv[1:])).params)
    problems = option_problems(values.pop("audio"), values, files=False)
    if problems:
        raise UserError(f"{problems[0][1]} (answers given: mapper {shlex.join(argv)})")


def _ask_reference(a: Asker, model: str) -> list[str]:
    argv = []
    offered = _contexts(model)
    chosen = [] if not offered else a.checkbox("Take from the reference (timing, kiai; gd: match it as a guest difficulty; no_hs: keep "
                        "its objects and add hitsounds):", offered, validate=one_map_input)
    for context in chosen:
        argv += [flag("in_context"), context]
    if a.confirm("Generate only a span of the song?", default=False):
        argv += [flag("start_time"), a.text("From (ms, m:ss.s or mm:ss:mmm):", validate=time_of_song(False))]
        _add(argv, flag("end_time"), a.text("To (blank: the end):", validate=time_of_song(True)))
        if a.confirm("Splice the span into the reference, as a new difficulty file?", default=True):
            argv.append(flag("add_to_beatmap"))
            if a.confirm("Overwrite the reference itself instead (its old contents are kept as .bak)?",
                         default=False):
                argv.append(flag("overwrite"))
    return argv


def ask_timing(a: Asker) -> list[str]:
    argv = ["timing", a.text("Song (audio file):", validate=existing_file)]
    argv += ["--model", a.text("Model (checkpoint folder or hub id):", validate=not_empty)]
    argv += ["--passes", a.text("Timing passes to vote over:", default="20", validate=number(1, 200, integer=True))]
    _add(argv, "--beatmap", a.text("Beatmap to copy with the new timing (blank: none):", validate=optional_file))
    _add(argv, "--seed", a.text("Random seed (blank: random):", validate=number(0, optional=True, integer=True)))
    _add(argv, "--out", a.text("Output folder (blank: default):"))
    return argv


def ask_mod(a: Asker) -> list[str]:
    argv = ["mod", a.text("Beatmap (.osu):", validate=existing_file)]
    argv += ["--model", a.text("Model (checkpoint folder or hub id):", validate=not_empty)]
    argv += ["--threshold", a.text("Report tokens above this relative surprisal:", default="20",
                                   validate=number(0, 1000))]
    return argv


TASKS = {"Generate a beatmap from a song": ask_generate, "Find the timing of a song": ask_timing,
         "Mod a beatmap (AI suggestions)": ask_mod}


def run_wizard(input=None, output=None, *, print_only: bool = False) -> tuple[list[str], bool] | None:
    """(argv after `mapper`, run it?) from the answers, or None when cancelled."""
    a = Asker(input, output)
    try:
        task = a.select("What do you want to do?", list(TASKS))
        argv = TASKS[task](a)
        command = shlex.join(["mapper", *argv])
        if print_only:
            return argv, False
        choice = a.select(f"Command:\n  {command}\n", ["Run it", "Only print it", "Cancel"], default="Run it")
    except Cancelled:
        return None
    if choice == "Cancel":
        return None
    return argv, choice == "Run it"


def wizard(
    print_only: bool = typer.Option(False, "--print-only", help="Print the command at the end instead of running it."),
) -> None:
    """Answer a few questions; get (and optionally run) the exact mapper command."""
    if not sys.stdin.isatty():
        raise UserError("mapper wizard needs an interactive terminal; use mapper generate/timing/mod with options")
    result = run_wizard(print_only=print_only)
    if result is None:
        typer.echo("mapper: cancelled; nothing was written", err=True)
        raise typer.Exit(1)
    argv, run = result
    typer.echo(shlex.join(["mapper", *argv]))
    if run:
        raise typer.Exit(subprocess.call([sys.executable, "-m", "mapperator_cli", *argv]))
