"""Training throughput on this CPU: samples/s for the tiny and the v29 profile.

Each profile trains a few steps (forward, backward, clip, optimizer) on windows of a synthetic
click-track song, through the same Trainer that `mapper train` uses; the baseline in the same
run is the example pipeline alone (windows made per second), which shows how much of a step the
data side costs.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNS = {"tiny": {"batch": 8, "steps": 6}, "v29": {"batch": 2, "steps": 2}}


def main() -> None:
    import torch

    from models.factory import build_config
    from models.modeling_mapperatorinator import Mapperatorinator
    from profiles import load_profile
    from tests.synthetic import song_folder
    from training import build_dataset
    from training.examples import ExampleMaker, read_records
    from training.runs import new_vocabulary
    from training.trainer import RunSettings, Trainer

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        song_folder(tmp / "songs", seconds=60.0)
        build_dataset([tmp / "songs"], tmp / "data")
        for name, run in RUNS.items():
            profile = load_profile(name)
            records = read_records(tmp / "data")
            vocab = new_vocabulary(profile, records)
            maker = ExampleMaker(profile, vocab)
            t0 = time.perf_counter()
            made = sum(1 for _ in maker.examples(records[0], random.Random(0)))
            examples_s = made / (time.perf_counter() - t0)
            model = Mapperatorinator(build_config(profile, vocab))
            settings = RunSettings(max_steps=1, batch_size=run["batch"], grad_accumulation=1,
                                   learning_rate=profile.training.learning_rate, eval_every=0, eval_steps=1,
                                   checkpoint_every=0, cpu=True)
            trainer = Trainer(model, vocab, profile, settings, tmp / f"run-{name}", lambda m, f: None,
                              log=lambda message: None)
            (tmp / f"run-{name}").mkdir()
            trainer.run(records, records)  # warm-up step
            settings.max_steps = run["steps"]
            trainer.run(records, records)
            lines = (tmp / f"run-{name}" / "metrics.jsonl").read_text().splitlines()
            step_seconds = [json.loads(line)["seconds_per_step"] for line in lines if '"split"' not in line]
            seconds = sum(step_seconds[-run["steps"]:])  # optimizer steps only, not the final eval and save
            samples_s = run["batch"] * run["steps"] / seconds
            params = sum(p.numel() for p in model.parameters()) / 1e6
            print(f"{name:4s} ({params:6.1f} M parameters, {profile.model.tgt_seq_len} tokens max): "
                  f"{samples_s:6.2f} training samples/s (batch {run['batch']}, {run['steps']} steps, "
                  f"{seconds:.1f} s) | example pipeline alone {examples_s:6.1f} windows/s = "
                  f"{examples_s / samples_s:.0f}x the training rate")


if __name__ == "__main__":
    main()
