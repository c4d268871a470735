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
    python bench/train.py [--profiles tiny,mid] [--workers 2] [--steps N] [--batch B] [--repeats R]
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


def main() -> None:
    import torch

    from training.loader import default_workers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="tiny,mid")
    parser.add_argument("--workers", type=int, default=None, help="default: 2 on the CPU, the CPU count on CUDA")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = dataset(tmp)
        for device in args.devices.split(","):
            workers = args.workers if args.workers is not None else (default_workers() if device == "cuda" else 2)
            for name in args.profiles.split(","):
                bench(name, data, tmp, device, workers, args.steps, args.batch, args.repeats)


if __name__ == "__main__":
    main()
