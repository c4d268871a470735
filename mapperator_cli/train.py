"""`mapper train` and `mapper lora`: train a model or a LoRA adapter on an MMRS dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer

from mapperator_cli.errors import UserError

PRECISIONS = ("no", "bf16", "fp16")

# The options `train` and `lora` share, declared once (typer reads each as the parameter's default).
DATA = typer.Option(..., "--data", help="Dataset folder from `mapper dataset build`.")
RESUME = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint.")
PRECISION = typer.Option(None, "--precision", help="no, bf16 or fp16 (default: bf16 on a CUDA GPU, "
                        "no on the CPU).")
CPU = typer.Option(False, "--cpu", help="Train on the CPU even when a GPU is present.")
BATCH_SIZE = typer.Option(None, "--batch-size", help="Samples per step (profile default).")
CHECKPOINT_EVERY = typer.Option(None, "--checkpoint-every", help="Steps between checkpoints (profile default).")
EVAL_EVERY = typer.Option(None, "--eval-every", help="Steps between evaluations (profile default; 0: only at the end).")
WORKERS = typer.Option(None, "--workers", help="Processes making training examples (default: the "
                      "CPU count less one per training process; 0: in the training process).")
QUIET = typer.Option(False, "-q", "--quiet", help="No progress on stderr.")


class _StepProgress:
    """A rich bar on stderr: step, loss, time left."""

    def __init__(self, enabled: bool, label: str):
        self.enabled, self.label = enabled, label
        self._progress = self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                                      TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(),
                                      console=Console(stderr=True))
            self._progress.__enter__()
        return self

    def update(self, step: int, total: int, loss: float) -> None:
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task(self.label, total=total, completed=step - 1, loss="-")
        self._progress.update(self._task, completed=step, loss=f"{loss:.3f}")

    def log(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            typer.echo(message, err=True)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)


def _options(data, out, max_steps, resume, precision, cpu, batch_size, learning_rate, checkpoint_every, eval_every,
             init=None, workers=None):
    from training.runs import TrainOptions

    if precision is not None and precision not in PRECISIONS:
        raise UserError(f"--precision must be one of {', '.join(PRECISIONS)}")
    for name, value in (("--max-steps", max_steps), ("--batch-size", batch_size), ("--checkpoint-every", checkpoint_every)):
        if value is not None and value < 1:
            raise UserError(f"{name} must be at least 1")
    if workers is not None and workers < 0:
        raise UserError("--workers must be 0 or more")
    if learning_rate is not None and not learning_rate > 0:
        raise UserError("--learning-rate must be positive")
    if not data.is_dir():
        raise UserError(f"{data}: no such dataset folder")
    return TrainOptions(data_dir=data, out_dir=out, max_steps=max_steps, resume=resume, init=init,
                        precision=precision, cpu=cpu, batch_size=batch_size, learning_rate=learning_rate,
                        checkpoint_every=checkpoint_every, eval_every=eval_every, workers=workers)


def _run(fn, options, quiet: bool, label: str):
    import os

    from mapperator_cli.errors import Terminated
    from training.distributed import LostProcess

    processes = int(os.environ.get("WORLD_SIZE", "1"))  # set by `accelerate launch` for each process
    main = os.environ.get("RANK", "0") == "0"
    with _StepProgress(not quiet and main, label) as bar:
        try:
            result = fn(options, log=bar.log, progress=bar.update)
        except KeyboardInterrupt:
            _drop_partials(options.out_dir, main)
            raise UserError(f"interrupted; the last checkpoint in {options.out_dir} is kept "
                            "(continue with --resume)") from None
        except Terminated:
            if processes == 1:
                raise
            _drop_partials(options.out_dir, main)
            # In a multi-process run the launcher sends SIGTERM when another process has ended.
            typer.echo(f"mapper: error: training process {os.environ.get('RANK')} of {processes} was stopped by "
                       "the launcher (another training process ended, or the launcher was interrupted); the last "
                       f"checkpoint in {options.out_dir} is kept (continue with --resume, with any number of "
                       "processes)", err=True)
            raise typer.Exit(143) from None
        except LostProcess as exc:
            _drop_partials(options.out_dir, main)
            typer.echo(f"mapper: error: {exc}", err=True)
            raise typer.Exit(1) from None
    return result


def _drop_partials(out_dir: Path, main: bool) -> None:
    """Half-written checkpoints of an interrupted run (only the main process writes them)."""
    if main:
        for partial in out_dir.glob("*.partial"):
            shutil.rmtree(partial, ignore_errors=True)


def train(
    profile: str = typer.Option(..., "--profile", help="Profile to train (tiny, v29, ... or a YAML file)."),
    data: Path = DATA,
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoints, metrics.jsonl, and the final model."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Optimizer steps (profile default)."),
    resume: bool = RESUME,
    init: str | None = typer.Option(None, "--init", help="Start from this checkpoint (full fine-tuning)."),
    precision: str | None = PRECISION,
    cpu: bool = CPU,
    batch_size: int | None = BATCH_SIZE,
    learning_rate: float | None = typer.Option(None, "--learning-rate", help="Peak learning rate (profile default)."),
    checkpoint_every: int | None = CHECKPOINT_EVERY,
    eval_every: int | None = EVAL_EVERY,
    workers: int | None = WORKERS,
    quiet: bool = QUIET,
) -> None:
    """Train a model on a dataset; the run folder becomes a model `mapper generate --model` takes.

    Several processes (GPUs, machines): `accelerate launch --multi_gpu --num_processes N -m mapperator_cli
    train ...` (see the README's training section). `--profile diffusion` (or
    diffusion-tiny) trains the position-refinement model instead."""
    from training.diffusion import is_diffusion_profile

    if is_diffusion_profile(profile):
        return _train_diffusion(profile, data, out, max_steps, resume, batch_size, learning_rate, quiet,
                                init=init, precision=precision, eval_every=eval_every, workers=workers)
    from profiles import load_profile
    from training.runs import train_model

    options = _options(data, out, max_steps, resume, precision, cpu, batch_size, learning_rate, checkpoint_every,
                       eval_every, init, workers)
    chosen = load_profile(profile)
    result = _run(lambda o, **kw: train_model(chosen, o, **kw), options, quiet, f"training {chosen.name}")
    _report(result, out)


def lora(
    base: str | None = typer.Option(None, "--base", show_default=False,
                                    help="Model to adapt: a checkpoint folder, a Hugging Face hub id or "
                                         "v29/v30/v31/v32; default: $MAPPER_MODEL, else the bundled starter model."),
    data: Path = DATA,
    out: Path = typer.Option(..., "--out", help="Adapter folder (adapter_config.json, adapter_model.safetensors)."),
    profile: str | None = typer.Option(None, "--profile", help="Profile with the LoRA settings (detected from --base)."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Optimizer steps (profile's lora.max_steps)."),
    resume: bool = RESUME,
    precision: str | None = PRECISION,
    cpu: bool = CPU,
    batch_size: int | None = BATCH_SIZE,
    learning_rate: float | None = typer.Option(None, "--learning-rate", help="Learning rate (profile's lora value)."),
    checkpoint_every: int | None = CHECKPOINT_EVERY,
    eval_every: int | None = EVAL_EVERY,
    workers: int | None = WORKERS,
    quiet: bool = QUIET,
) -> None:
    """Train a LoRA adapter (peft) for a model; use it with `mapper generate --lora`."""
    from models.loading import resolve_checkpoint
    from models.model_source import model_path
    from profiles import load_profile
    from profiles.detect import detect_profile
    from tokenization.vocabulary import Vocabulary
    from training.runs import train_lora

    base = model_path(base, "--base")

    options = _options(data, out, max_steps, resume, precision, cpu, batch_size, learning_rate, checkpoint_every,
                       eval_every, workers=workers)
    folder = resolve_checkpoint(base)
    chosen = load_profile(profile) if profile else detect_profile(folder, Vocabulary.load(folder))
    result = _run(lambda o, **kw: train_lora(chosen, str(folder), o, **kw), options, quiet, "training LoRA")
    _report(result, out)


def _train_diffusion(profile, data, out, max_steps, resume, batch_size, learning_rate, quiet, **unsupported) -> None:
    import os

    from training.diffusion import load_diffusion_profile, train_diffusion

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # its loop is not data parallel: N copies would race
        raise UserError("diffusion profiles train in one process; run `mapper train` without accelerate launch")
    given = [name for name, value in unsupported.items() if value is not None]
    if given:
        raise UserError(f"--{given[0].replace('_', '-')} does not apply to diffusion profiles")
    _options(data, out, max_steps, resume, None, False, batch_size, learning_rate, None, None)  # validates
    chosen = load_diffusion_profile(profile)
    with _StepProgress(not quiet, f"training {chosen.name}") as bar:
        try:
            train_diffusion(chosen, data, out, max_steps=max_steps, batch_size=batch_size,
                            learning_rate=learning_rate, resume=resume, log=bar.log, progress=bar.update)
        except KeyboardInterrupt:
            for partial in out.glob(".partial-*"):
                shutil.rmtree(partial, ignore_errors=True)
            raise UserError(f"interrupted; the last checkpoint in {out} is kept (continue with --resume)") from None
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    if losses:
        typer.echo(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}", err=True)
    typer.echo(str(out))


def _report(result, out: Path) -> None:
    if not result.is_main_process:  # several processes: the main one reports
        return
    if result.losses:
        first, last = result.losses[0][1], result.losses[-1][1]
        typer.echo(f"step {result.step}: loss {first:.3f} -> {last:.3f}", err=True)
    if result.last_eval:
        typer.echo("eval: " + ", ".join(f"{k} {v:.4g}" for k, v in result.last_eval.items()
                                        if isinstance(v, float)), err=True)
    typer.echo(str(out))
