"""Data parallelism, proven on the CPU: two gloo processes started by `accelerate launch` (as the
README says to run them), the tiny profile, a couple of steps.

- the processes draw disjoint windows, and their one step equals the step one process takes on both
  processes' batches together (loss and updated weights);
- metrics, checkpoints and the run folder are written once, by the main process; each eval window is
  evaluated by one process;
- killing one process ends the run within seconds with one clear line, and `--resume` with another
  number of processes continues from the last checkpoint, with the same batches on every such resume.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.synthetic import beat_map, click_track

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 8.0  # one tiny window per beatmap
GLOBAL_BATCH = 4  # two processes x 2
COMMON = ["--profile", "tiny", "--batch-size", str(GLOBAL_BATCH), "--workers", "0", "--learning-rate", "0.003", "-q"]
KILL_DEADLINE_S = 30  # "within seconds" on a loaded 2-core machine; the launcher itself polls every 0.1 s


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _free_port() -> int:
    with socket.socket() as s:  # other test runs on this machine may hold accelerate's default port
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(processes: int, *args: str) -> list[str]:
    """The README's way to run N processes on one machine (gloo on a machine without a CUDA GPU)."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(_free_port()), "-m", "mapperator_cli", "train", *args]


def single(*args: str) -> list[str]:
    return [sys.executable, "-m", "mapperator_cli", "train", *args]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three songs (tempos differ) with two maps each: split by set, 4 training and 2 eval beatmaps."""
    from training import build_dataset

    root = tmp_path_factory.mktemp("ddp")
    for index, bpm in enumerate((120.0, 150.0, 100.0)):
        folder = root / "songs" / f"song{index}"
        folder.mkdir(parents=True)
        click_track(folder / "audio.wav", SECONDS, bpm=bpm)
        for version, offset in (("Beats", 500.0), ("Offbeats", 500.0 + 30000.0 / bpm)):
            beat_map(folder / f"{version}.osu", "audio.wav", SECONDS, bpm=bpm, offset_ms=offset, version=version)
    report = build_dataset([root / "songs"], root / "data")
    assert report.total_beatmaps == 6 and not report.skipped
    return root / "data"


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _pad(rows: torch.Tensor, length: int, value: int) -> torch.Tensor:
    return torch.nn.functional.pad(rows, (0, length - rows.shape[1]), value=value)


def _together(a: dict, b: dict) -> dict:
    """Two collated batches as one (token rows right-padded as `collate` pads them)."""
    from training.examples import IGNORE

    length = max(a["labels"].shape[1], b["labels"].shape[1])
    pads = {"decoder_input_ids": 0, "decoder_attention_mask": 0, "labels": IGNORE}
    return {k: torch.cat([_pad(a[k], length, pads[k]), _pad(b[k], length, pads[k])]) if k in pads
            else torch.cat([a[k], b[k]]) for k in a}


def test_two_processes_take_the_step_one_process_takes_on_both_batches(dataset, tmp_path):
    from accelerate.state import AcceleratorState

    from models.factory import build_config
    from models.modeling_mapperatorinator import Mapperatorinator
    from profiles import load_profile
    from training.audio_cache import CACHE_DIR_NAME, AudioCache
    from training.checkpoint import save_published
    from training.examples import ExampleMaker, read_records, split_records
    from training.loader import train_batches
    from training.runs import new_vocabulary
    from training.trainer import RunSettings, Trainer

    run = tmp_path / "run"
    done = subprocess.run(launch(2, *COMMON, "--data", str(dataset), "--out", str(run), "--max-steps", "2",
                                 "--eval-every", "1", "--checkpoint-every", "1"),
                          capture_output=True, text=True, timeout=600, env=_env())
    assert done.returncode == 0, done.stderr[-3000:]

    # Written once, by the main process: one metrics line per step and per evaluation, one report.
    lines = _metrics(run)
    assert [m["step"] for m in lines if "split" not in m] == [1, 2]
    evals = [m for m in lines if m.get("split") == "eval"]
    assert [m["step"] for m in evals] == [1, 2]
    assert done.stderr.count("saved ") == 2 and done.stderr.count("training tiny") == 1
    assert "2 processes" in done.stderr and done.stdout.strip() == str(run)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint-1", "checkpoint-2", "config.json",
                                                     "metrics.jsonl", "model.safetensors", "profile.json",
                                                     "tokenizer.json"]
    # Evaluation not duplicated: each process evaluated one of the two eval beatmaps' windows.
    assert all(m["windows"] == [1, 1] for m in evals)

    # The windows each process drew: the same function of (seed, step, process) the run used.
    profile = load_profile("tiny")
    records = read_records(dataset, tuple(profile.tokenizer.gamemodes))
    train, held = split_records(records)
    assert len(train) == 4 and len(held) == 2
    vocab = new_vocabulary(profile, records)
    maker = ExampleMaker(profile, vocab, audio=AudioCache(dataset / CACHE_DIR_NAME, profile.audio.sample_rate))
    drawn = []
    for index in (0, 1):
        stream = train_batches(maker, train, GLOBAL_BATCH // 2, seed=profile.training.seed, step=0,
                               process=(index, 2))
        drawn.append(next(stream))
        stream.close()
    frames = [{bytes(row.numpy()) for row in batch["frames"]} for batch in drawn]
    assert not frames[0] & frames[1]  # disjoint windows (each process its own beatmaps)

    # One process, the same initial weights, both batches at once: the same step.
    torch.manual_seed(profile.training.seed)
    model = Mapperatorinator(build_config(profile, vocab))
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    settings = RunSettings(max_steps=1, batch_size=GLOBAL_BATCH, grad_accumulation=1, learning_rate=0.003,
                           eval_every=0, eval_steps=profile.training.eval_steps, checkpoint_every=1, workers=0)
    AcceleratorState._reset_state(True)  # another test of this session may have made one
    alone = tmp_path / "alone"
    alone.mkdir()
    trainer = Trainer(model, vocab, profile, settings, alone,
                      lambda m, folder: save_published(m, vocab, folder, profile), log=lambda message: None)
    result = trainer.run(train, held, batches=(b for b in [_together(*drawn)]))
    assert result.losses[0][1] == pytest.approx(lines[0]["loss"], rel=1e-5)
    together, apart = load_file(str(alone / "checkpoint-1" / "model.safetensors")), \
        load_file(str(run / "checkpoint-1" / "model.safetensors"))
    moved = max(float((together[k] - start[k]).abs().max()) for k in together if k in start)
    differ = max(float((together[k] - apart[k]).abs().max()) for k in together)
    # Adam's first step is nearly lr x sign(gradient): other windows would flip signs everywhere (a
    # difference the size of the step), float rounding only where a gradient is next to zero (seen:
    # 1e-6 of a 1.5e-3 step). The gradient's size shows in its norm (before clipping), logged by both.
    assert moved > 1e-4 and differ < 1e-2 * moved, (moved, differ)
    assert _metrics(alone)[0]["grad_norm"] == pytest.approx(lines[0]["grad_norm"], rel=1e-4)
    # And the evaluation of the sharded run equals one process's evaluation of the same weights.
    assert result.last_eval["windows"] == [2]
    for name in ("loss", "token_acc", "timing_acc_20ms"):
        assert result.last_eval[name] == pytest.approx(evals[0][name], rel=1e-4, abs=1e-6), name


def _rank_pid(launcher: int, rank: int) -> int | None:
    """The training process of `rank` among the launcher's descendants."""
    todo, seen = [launcher], set()
    while todo:
        pid = todo.pop()
        seen.add(pid)
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and pid != launcher:
            return pid
        todo += [int(c) for c in children if int(c) not in seen]
    return None


def test_a_killed_process_ends_the_run_and_it_resumes_with_another_count(dataset, tmp_path):
    run = tmp_path / "run"
    args = [*COMMON, "--data", str(dataset), "--out", str(run), "--eval-every", "0", "--checkpoint-every", "2"]
    proc = subprocess.Popen(launch(2, *args, "--max-steps", "40"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.time() + 300
    while not (run / "checkpoint-2" / "trainer_state.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    victim = _rank_pid(proc.pid, 1)
    assert victim is not None and proc.poll() is None
    os.kill(victim, signal.SIGKILL)
    killed = time.time()
    _, stderr = proc.communicate(timeout=120)
    took = time.time() - killed
    print(f"the run ended {took:.1f} s after the kill")
    assert proc.returncode != 0
    assert took < KILL_DEADLINE_S, f"the run took {took:.0f} s to end"
    # The survivor's line: the gloo connection closed, or the launcher stopped it, whichever came first.
    assert "mapper: error: training process 0 of 2" in stderr and "continue with --resume" in stderr, stderr[-3000:]
    assert _rank_pid(proc.pid, 0) is None
    last = int(max((p for p in run.glob("checkpoint-*")), key=lambda p: int(p.name.split("-")[1])).name.split("-")[1])
    assert last >= 2 and not list(run.glob("*.partial"))

    # Resumed by one process, twice from the same checkpoint: the same batches, the same losses.
    end = last + 4
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    losses = []
    for folder in (run, copy):
        command = single(*[str(folder) if a == str(run) else a for a in args], "--max-steps", str(end), "--resume")
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=_env())
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"resumed from checkpoint-{last} (step {last})" in done.stderr
        assert (folder / f"checkpoint-{end}").exists() and (folder / "model.safetensors").exists()
        resumed = [m for m in _metrics(folder) if "split" not in m][-(end - last):]
        assert [m["step"] for m in resumed] == list(range(last + 1, end + 1))
        losses.append([m["loss"] for m in resumed])
    assert losses[0] == losses[1]
