"""Run folders: checkpoints in the published layout plus the state needed to resume.

`RUN/checkpoint-<step>/` holds config.json, model.safetensors, tokenizer.json and profile.json (the
whole training profile, so `mapper generate --model` takes it as it is, whatever profile file it was
trained with) — or, for LoRA runs, adapter_config.json and
adapter_model.safetensors — and trainer_state.pt (optimizer, scheduler, step, random states).
A checkpoint is written to a `.partial` folder and renamed into place, so a run killed at any
moment leaves only complete checkpoints behind.
"""

from __future__ import annotations

import errno
import os
import random
import re
import shutil
from pathlib import Path

import torch

STATE_FILE = "trainer_state.pt"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
FULL_DISK_BYTES = 64 * 1024**2  # less free than this after a failed save: the disk was what failed


MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "profile.json")  # a complete model


def save_published(model, vocab, folder: Path, profile=None, state: dict | None = None) -> None:
    """config.json + model.safetensors + tokenizer.json (+ profile.json) of a plain (non-LoRA) model;
    `state`: its full state dict where the model itself holds only a shard (FSDP, DeepSpeed ZeRO-3)."""
    from safetensors.torch import save_file

    from profiles.detect import save_profile

    folder.mkdir(parents=True, exist_ok=True)
    model.config.to_json_file(str(folder / "config.json"))
    state = {k: v.detach().contiguous().cpu() for k, v in (state or model.state_dict()).items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    vocab.save(folder)
    if profile is not None:
        save_profile(profile, folder)


def replace_folder(partial: Path, final: Path) -> None:
    """Move a finished `partial` folder to `final`, replacing what was there."""
    old = final.with_name(final.name + ".old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(partial, final)
    shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(run_dir: Path, step: int, write_weights, optimizers, schedulers, keep: int = 2) -> Path:
    """Write checkpoint-<step> whole or not at all: on any failure the `.partial` folder is removed
    (earlier checkpoints stay as they are), and a full disk is raised as one OSError naming the
    checkpoint, whatever library hit it (torch.save says only "[enforce fail at inline_container.cc]")."""
    final = run_dir / f"checkpoint-{step}"
    partial = run_dir / f"checkpoint-{step}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        write_weights(partial)
        torch.save({
            "step": step,
            "optimizers": [o.state_dict() for o in optimizers],
            "schedulers": [s.state_dict() for s in schedulers],
            "torch_rng": torch.get_rng_state(),
            "python_rng": list(_plain(random.getstate())),
        }, partial / STATE_FILE)
    except BaseException as exc:
        full = isinstance(exc, Exception) and _disk_full(exc, run_dir)  # asked before the space is freed
        shutil.rmtree(partial, ignore_errors=True)
        if full:
            raise OSError(errno.ENOSPC, "No space left on device", str(final)) from None
        raise
    replace_folder(partial, final)
    for old in checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _disk_full(exc: Exception, run_dir: Path) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    if "No space left" in text or "os error 28" in text:  # safetensors' SafetensorError
        return True
    # torch's zip writer reports only a failed check ("unexpected pos ..."): ask the disk itself
    return "inline_container" in text and shutil.disk_usage(run_dir).free < FULL_DISK_BYTES


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := CHECKPOINT.match(p.name))
             and (p / STATE_FILE).exists()]
    return [p for _, p in sorted(found)]


def load_state(folder: Path, optimizers, schedulers) -> int:
    """Restore optimizer/scheduler/random states; returns the step the checkpoint was taken at."""
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    for opt, saved in zip(optimizers, state["optimizers"]):
        opt.load_state_dict(saved)
    for sched, saved in zip(schedulers, state["schedulers"]):
        sched.load_state_dict(saved)
    torch.set_rng_state(state["torch_rng"])
    random.setstate(_tuples(state["python_rng"]))
    return int(state["step"])


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (tuple, list)) else value


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
