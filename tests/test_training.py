"""Datasets, training, resuming and LoRA through the CLI, on a synthetic click-track song."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from mapperator_cli.app import app
from training.click_songs import song_folder

runner = CliRunner()
SONG_SECONDS = 8.0  # one window of the tiny profile: generation stays quick with a barely trained model
FAST = ["--profile", "tiny", "--batch-size", "2", "--quiet"]


def cli(*args: str):
    """Run in-process; a raised error counts as the entry point would report it (exit 2 for bad input)."""
    from types import SimpleNamespace

    from mapperator_cli.errors import is_user_error

    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return SimpleNamespace(exit_code=2 if is_user_error(result.exception) else 1, output=str(result.exception))
    return result


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    song_folder(root / "songs", seconds=SONG_SECONDS)
    out = root / "dataset"
    result = cli("dataset", "build", str(root / "songs"), "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tiny"
    result = cli("train", *FAST, "--data", str(dataset), "--out", str(run), "--max-steps", "4",
                 "--checkpoint-every", "2", "--eval-every", "2", "--learning-rate", "0.01")
    assert result.exit_code == 0, result.output
    return run


def test_dataset_info_and_check(dataset):
    info = cli("dataset", "info", str(dataset), "--json")
    assert info.exit_code == 0
    summary = json.loads(info.output)
    assert summary["beatmaps"] == 1 and summary["maps_per_mode"]["osu"] == 1
    assert cli("dataset", "check", str(dataset), "--quiet").exit_code == 0


def test_training_writes_a_model_generate_can_use(trained, tmp_path):
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (trained / name).exists()
    assert sorted(p.name for p in trained.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    lines = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    steps = [m["step"] for m in lines if "split" not in m]
    assert steps == [1, 2, 3, 4]
    evals = [m for m in lines if m.get("split") == "eval"]
    assert [m["step"] for m in evals] == [2, 4] and "timing_acc_20ms" in evals[-1] and "loss" in evals[-1]
    song = song_folder(tmp_path, seconds=SONG_SECONDS)
    out = tmp_path / "out"
    result = cli("generate", str(song / "audio.wav"), "--model", str(trained), "--seed", "1", "--out", str(out),
                 "--quiet")
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.osu"))) == 1


def test_training_refuses_bad_input(dataset, trained, tmp_path):
    result = cli("train", *FAST, "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "no such dataset" in result.output
    result = cli("train", *FAST, "--data", str(dataset), "--out", str(trained), "--max-steps", "1")
    assert result.exit_code == 2 and "--resume" in result.output  # an existing run is never overwritten
    result = cli("train", "--profile", "nope", "--data", str(dataset), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "unknown profile" in result.output


def _children(pid: int) -> set[int]:
    try:
        return {int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()}
    except OSError:
        return set()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_run_resumes_to_the_same_final_step(dataset, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "mapperator_cli", "train", *FAST, "--data", str(dataset), "--out", str(run),
               "--max-steps", "6", "--checkpoint-every", "2", "--eval-every", "0", "--workers", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    workers: set[int] = set()
    while not (run / "checkpoint-2" / "trainer_state.pt").exists() and time.time() < deadline and proc.poll() is None:
        workers |= _children(proc.pid)
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(workers) >= 2  # the examples were made in worker processes
    deadline = time.time() + 30  # orphaned workers notice their parent is gone and stop
    while any(_alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)
    assert (run / "checkpoint-2").exists()
    assert not (run / "model.safetensors").exists()  # killed before the end
    done = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resumed from checkpoint-" in done.stderr
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 6 and (run / "checkpoint-6").exists() and (run / "model.safetensors").exists()
    assert not list(run.glob("*.partial"))


def test_lora_trains_only_adapters_and_changes_the_model(dataset, trained, tmp_path):
    import torch

    from models.loading import apply_lora, load_model

    adapter = tmp_path / "adapter"
    result = cli("lora", "--base", str(trained), "--data", str(dataset), "--out", str(adapter), "--max-steps", "3",
                 "--batch-size", "2", "--learning-rate", "0.05", "--quiet")
    assert result.exit_code == 0, result.output
    assert (adapter / "adapter_config.json").exists()
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    assert weights and all("lora_" in name for name in weights)
    base = load_model(trained)
    base_count = sum(p.numel() for p in base.parameters())
    adapter_count = sum(t.numel() for t in weights.values())
    assert 0 < adapter_count < 0.2 * base_count
    frames = torch.randn(1, 1023 * 128)
    ids = torch.tensor([[1, 5, 20, 30]])
    with torch.no_grad():
        before = base(frames=frames, decoder_input_ids=ids).logits
        merged = apply_lora(load_model(trained), adapter)
        after = merged(frames=frames, decoder_input_ids=ids).logits
    assert (before - after).abs().max() > 1e-3
    bad = cli("generate", str(tmp_path / "x.wav"), "--model", str(trained), "--lora", str(tmp_path))
    assert bad.exit_code == 2
