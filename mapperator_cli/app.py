"""The `mapper` Typer application: a thin edge that turns options into calls on the packages.

Subcommand modules are imported lazily inside their command functions, so `mapper --help`
and argument errors never import torch.
"""

from __future__ import annotations

import os
import sys

import typer

from mapperator_cli.errors import run_guarded

__version__ = "0.1.0"

app = typer.Typer(
    name="mapper",
    help="Turn a song into a playable osu! beatmap with an AI model, and help mappers with timing and modding.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mapper {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """mapper: AI beatmap generation, timing and modding for osu!."""


from mapperator_cli.convert import convert  # noqa: E402
from mapperator_cli.dataset import app as dataset_app  # noqa: E402
from mapperator_cli.eval import eval_command  # noqa: E402
from mapperator_cli.generate import generate  # noqa: E402
from mapperator_cli.info import info  # noqa: E402 - cheap: heavy imports happen inside
from mapperator_cli.mod import mod  # noqa: E402
from mapperator_cli.timing import timing  # noqa: E402
from mapperator_cli.train import lora, train  # noqa: E402
from mapperator_cli.web_command import web  # noqa: E402 - starlette/uvicorn are imported inside
from mapperator_cli.wizard import wizard  # noqa: E402

app.command("generate")(generate)
app.command("info")(info)
app.command("timing")(timing)
app.command("mod")(mod)
app.command("eval")(eval_command)
app.command("train")(train)
app.command("lora")(lora)
app.command("wizard")(wizard)
app.command("web")(web)
app.command("convert")(convert)
app.add_typer(dataset_app, name="dataset")


# Intel MKL picks its matrix kernels by the CPU it finds (AVX2, AVX-512, AMX), and the kernels round
# differently: on a near tie (top-2 logits ~1e-5 apart) two machines then decode different tokens. The commands
# that decode with a model ask for MKL's reproducible AVX2 branch (MKL_CBWR), unless the user has chosen: it
# runs on every x86-64 CPU of the last decade, and the published checkpoints' reference runs match it
# (../shared/fixtures/e2e: the AVX-512 kernels flip 2 of 4 whole-song runs). Training keeps the fastest kernels.
# MKL reads it when torch first calls it, so it is set before any command runs.
DECODING_COMMANDS = frozenset({"generate", "timing", "mod", "eval", "wizard"})


def main() -> None:
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    if command in DECODING_COMMANDS:
        os.environ.setdefault("MKL_CBWR", "AVX2")
    sys.exit(run_guarded(app))


if __name__ == "__main__":
    main()
