"""Training throughput: `mapper train`'s loop against the same loop on batches already in memory.

For each profile (tiny, and a ~10 M-parameter v29-style "mid" profile), on the CPU and on CUDA when
present:
1. the batches the run will train on are made once, by the same worker pipeline (same seed, start
   step and worker count, so the same batches), and kept in memory (pinned on CUDA);
2. upper bound: a fresh model (same initial weights) steps on those in-memory batches;
3. loop: a fresh model trains through `Trainer.run` exactly as `mapper train` does, its examples
   made by `--workers` DataLoader processes from the dataset (decoded songs cached on disk).
Both use the same Trainer (forward, backward, clip, optimizer, metrics); the first steps (worker
start, allocator warm-up) are left out of the timing. The ratio loop / upper bound is what to read:
absolute numbers on a shared machine vary from run to run. With `--repeats R` both runs are made R
times, alternately, and each step's fastest time is kept (every repeat trains step i on the same
batch from the same weights), which takes out most of what other processes on the machine cost.

Data: ../shared/corpus built into a temporary dataset when present, else synthetic click tracks.

Section "processes": steps/s of `mapper train` run by 2 processes (`accelerate launch --multi_gpu
--num_processes 2`, the README's way; gloo on the CPU, NCCL on GPUs) against 1 process, at the same
global batch (so the same samples per step), tiny profile, on synthetic click tracks; each run's
steps after the warm-up, from its metrics.jsonl; alternately, `--repeats` times, best of each.

    python bench/train.py [--sections loop,processes] [--profiles tiny,mid] [--workers 2] [--steps N]
                          [--batch B] [--repeats R] [--processes 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MID = {"model.d_model": 256, "model.encoder_layers": 4, "model.decoder_layers": 4, "model.attention_heads": 4,
       "model.ffn_dim": 1024}  # v29's tokenizer, audio and 2048-token decoder; ~10 M parameters
WARMUP_STEPS = 2
# (batch, timed steps) per profile and device; CPU sizes keep the whole bench to a few minutes on 2 cores.
SIZES = {("tiny", "cpu"): (8, 6), ("mid", "cpu"): (2, 4), ("tiny", "cuda"): (64, 30), ("mid", "cuda"): (64, 30)}


def profile_named(name: str):
    from profiles import load_profile

    if name == "mid":
        return load_profile("v29").with_overrides({**MID, "name": "mid"})
    return load_profile(name)


def dataset(tmp: Path) -> Path:
    from training import build_dataset

    corpus = ROOT.parent / "shared" / "corpus"
    if corpus.is_dir():
        build_dataset([corpus], tmp / "data")
        print(f"data: {corpus} (the dev dataset)")
    else:
        from training.click_songs import song_folder

        for i in range(4):
            song_folder(tmp / "songs", f"song{i}", seconds=60.0)
        build_dataset([tmp / "songs"], tmp / "data")
        print("data: 4 synthetic 60 s click tracks (../shared/corpus not found)")
    return tmp / "data"


def timed_run(profile, vocab, records, settings, run_dir: Path, batches=None) -> tuple[list[float], float]:
    """(seconds of each step after the warm-up, from the run's own metrics; millions of parameters)."""
    import torch
    from accelerate.state import AcceleratorState

    from models.factory import build_config
    from models.modeling_mapperatorinator import Mapperatorinator
    from training.trainer import Trainer

    torch.manual_seed(0)
    model = Mapperatorinator(build_config(profile, vocab))
    run_dir.mkdir()
    AcceleratorState._reset_state(True)  # the next run may use another device or precision
    trainer = Trainer(model, vocab, profile, settings, run_dir, lambda m, f: None, log=lambda message: None)
    trainer.run(records, records[:1], batches=batches)
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    seconds = [m["seconds_per_step"] for m in lines if "split" not in m][WARMUP_STEPS:]
    return seconds, sum(p.numel() for p in model.parameters()) / 1e6


def bench(name: str, data: Path, tmp: Path, device: str, workers: int, steps: int | None, batch: int | None,
          repeats: int) -> None:
    import torch

    from training.audio_cache import CACHE_DIR_NAME, AudioCache
    from training.examples import ExampleMaker, read_records
    from training.loader import train_batches
    from training.runs import default_precision, new_vocabulary
    from training.trainer import RunSettings

    profile = profile_named(name)
    records = read_records(data, tuple(profile.tokenizer.gamemodes))
    vocab = new_vocabulary(profile, records)
    default_batch, default_steps = SIZES[(name, device)]
    batch, steps = batch or default_batch, steps or default_steps
    total = steps + WARMUP_STEPS
    cuda = device == "cuda"
    settings = RunSettings(max_steps=total, batch_size=batch, grad_accumulation=1,
                           learning_rate=profile.training.learning_rate, eval_every=0, eval_steps=1,
                           checkpoint_every=0, precision=default_precision(None, cpu=not cuda), cpu=not cuda,
                           workers=workers, audio_cache=data / CACHE_DIR_NAME)
    maker = ExampleMaker(profile, vocab, audio=AudioCache(settings.audio_cache, profile.audio.sample_rate))
    t0 = time.perf_counter()
    stream = train_batches(maker, records, batch, seed=settings.seed, step=0, workers=workers)
    kept = [next(stream) for _ in range(total)]  # the very batches the loop below will get
    stream.close()
    made_s = time.perf_counter() - t0
    if cuda:
        kept = [{k: v.pin_memory() for k, v in b.items()} for b in kept]
    print(f"{name} on {device}: batch {batch}, {steps} timed steps after {WARMUP_STEPS}, "
          f"precision {settings.precision}, {workers} workers, threads {torch.get_num_threads()} "
          f"(made the {total} batches in {made_s:.1f} s)")
    rate = lambda seconds: batch * len(seconds) / sum(seconds)  # noqa: E731
    uppers, loops = [], []
    for r in range(repeats):
        upper, params = timed_run(profile, vocab, records, settings, tmp / f"{name}-{device}-upper-{r}",
                                  batches=(b for b in kept))
        loop, _ = timed_run(profile, vocab, records, settings, tmp / f"{name}-{device}-loop-{r}")
        uppers.append(upper)
        loops.append(loop)
        print(f"  {params:.1f} M parameters: in-memory upper bound {rate(upper):8.3f} samples/s | "
              f"mapper train loop {rate(loop):8.3f} samples/s | ratio {rate(loop) / rate(upper):.2f}", flush=True)
    if repeats > 1:  # each step trains on the same batch every time: its fastest time is its least disturbed
        upper, loop = ([min(times) for times in zip(*runs)] for runs in (uppers, loops))
        print(f"  best of {repeats} per step: in-memory upper bound {rate(upper):8.3f} samples/s | "
              f"mapper train loop {rate(loop):8.3f} samples/s | ratio {rate(loop) / rate(upper):.2f}", flush=True)


def bench_processes(tmp: Path, processes: int, steps: int | None, batch: int | None, repeats: int,
                    device: str) -> None:
    import os
    import socket
    import subprocess

    from training import build_dataset
    from training.click_songs import beat_map, click_track

    for i in range(6):  # tempos differ, so no song is a duplicate of another
        folder = tmp / "click-songs" / f"song{i}"
        folder.mkdir(parents=True, exist_ok=True)
        click_track(folder / "audio.wav", 30.0, bpm=100.0 + 10 * i)
        beat_map(folder / "beats.osu", "audio.wav", 30.0, bpm=100.0 + 10 * i)
    build_dataset([tmp / "click-songs"], tmp / "click-data")
    with socket.socket() as s:  # a free port: accelerate's default may be taken on a shared machine
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    steps, batch = steps or 8, batch or 8
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    train = ["-m", "mapperator_cli", "train", "--profile", "tiny", "--data", str(tmp / "click-data"),
             "--batch-size", str(batch), "--max-steps", str(steps + WARMUP_STEPS), "--workers", "0",
             "--eval-every", "0", "--checkpoint-every", str(steps + WARMUP_STEPS), "-q"]
    train += ["--cpu"] if device == "cpu" else []
    launch = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port)]

    def rate(command: list[str], run: Path) -> float:
        subprocess.run([sys.executable, *command, "--out", str(run)], check=True, env=env, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        seconds = [m["seconds_per_step"] for m in lines if "split" not in m][WARMUP_STEPS:]
        return len(seconds) / sum(seconds)

    print(f"processes on {device}: tiny, global batch {batch}, {steps} timed steps after {WARMUP_STEPS}, "
          f"one thread and no example workers per process, 6 synthetic 30 s click tracks; load average "
          f"{os.getloadavg()[0]:.1f}")
    ones, manys = [], []
    for r in range(repeats):
        ones.append(rate(train, tmp / f"proc1-{device}-{r}"))
        manys.append(rate([*launch, *train], tmp / f"proc{processes}-{device}-{r}"))
        print(f"  1 process {ones[-1]:.3f} steps/s | {processes} processes {manys[-1]:.3f} steps/s | "
              f"ratio {manys[-1] / ones[-1]:.2f}", flush=True)
    if repeats > 1:
        print(f"  best of {repeats}: 1 process {max(ones):.3f} steps/s | {processes} processes {max(manys):.3f} "
              f"steps/s | ratio {max(manys) / max(ones):.2f}", flush=True)


def main() -> None:
    import torch

    from training.loader import default_workers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="loop,processes")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--profiles", default="tiny,mid")
    parser.add_argument("--workers", type=int, default=None, help="default: 2 on the CPU, the CPU count on CUDA")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    sections = args.sections.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = dataset(tmp) if "loop" in sections else None
        for device in args.devices.split(","):
            workers = args.workers if args.workers is not None else (default_workers() if device == "cuda" else 2)
            for name in args.profiles.split(",") if "loop" in sections else []:
                bench(name, data, tmp, device, workers, args.steps, args.batch, args.repeats)
            if "processes" in sections and (device == "cpu" or torch.cuda.device_count() >= args.processes):
                bench_processes(tmp, args.processes, args.steps, args.batch, args.repeats, device)


if __name__ == "__main__":
    main()
