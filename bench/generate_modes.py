"""Whole-song generation, one window at a time vs `--parallel`: seconds, windows and tokens.

bench/generate.py measures the decoding loop with a fixed number of tokens; this measures the whole
`mapper generate` pipeline on a song, where the model decides when each window ends. The model is
the tiny profile trained for a few hundred steps on a click-track map (about 40 s on 2 cores), so
it ends its windows the way a trained model does; the song is a 64 s click track at 120 BPM.
Both runs skip super timing and refinement, so only the window scheme differs. The two schemes
make different maps, so the comparable figure is tokens per second; the object counts say more
about this barely trained model (it saw one 8 s map) than about either scheme.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TRAIN_STEPS = 300
SONG_SECONDS = 64.0


def main() -> None:
    from models.pipeline.request import GenerateRequest
    from models.pipeline.run import run_generation
    from training.click_songs import click_track, trained_tiny

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        _, model = trained_tiny(root / "train", steps=TRAIN_STEPS)
        print(f"trained the tiny profile {TRAIN_STEPS} steps in {time.perf_counter() - t0:.0f} s")
        song = click_track(root / "song.wav", seconds=SONG_SECONDS)
        timings = {}
        for name, parallel in (("one window at a time", False), ("--parallel", True)):
            request = GenerateRequest(audio=song, model=str(model), out_dir=root / name, seed=0, greedy=True,
                                      parallel=parallel, super_timing=False, refine=False)
            windows = []
            t0 = time.perf_counter()
            result = run_generation(request, progress=lambda label, done, total, seen=windows: seen.append((label, total)))
            seconds = time.perf_counter() - t0
            timings[name] = result.tokens / seconds
            passes = {label: total for label, total in windows}
            from tokenization import read_beatmap

            objects = len(read_beatmap(result.path).hit_objects)
            print(f"{name:22s} {seconds:6.1f} s  {SONG_SECONDS / seconds:5.1f}x real time  "
                  f"windows {sum(passes.values()):4d} ({', '.join(f'{k} {v}' for k, v in passes.items())})  "
                  f"tokens {result.tokens:6d} ({result.tokens / seconds:6.0f}/s)  objects {objects}")
        print(f"--parallel decodes {timings['--parallel'] / timings['one window at a time']:.1f}x the tokens per "
              "second (how long a song takes also depends on how much the model writes in each scheme)")


if __name__ == "__main__":
    main()
