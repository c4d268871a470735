"""`generate --difficulty 2,5,7` (one run: a shared timing and kiai, the maps decoded together) vs three
separate `generate --difficulty X` runs, on a 32 s click track with the tiny profile trained in the
script on a click-track map (as bench/generate_modes.py). Both skip super timing and refinement."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TRAIN_STEPS = 200
SONG_SECONDS = 32.0
DIFFICULTIES = [2.0, 5.0, 7.0]


def main() -> None:
    from models.pipeline.mapset import run_mapset
    from models.pipeline.request import GenerateRequest
    from models.pipeline.run import run_generation
    from tokenization import read_beatmap
    from training.click_songs import click_track, trained_tiny

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        _, model = trained_tiny(root / "train", steps=TRAIN_STEPS)
        print(f"trained the tiny profile {TRAIN_STEPS} steps in {time.perf_counter() - t0:.0f} s")
        song = click_track(root / "song.wav", seconds=SONG_SECONDS)

        def request(out: str, stars: float | None) -> GenerateRequest:
            return GenerateRequest(audio=song, model=str(model), out_dir=root / out, seed=0, difficulty=stars,
                                   super_timing=False, refine=False)

        t0 = time.perf_counter()
        separate = [run_generation(request(f"alone-{stars:g}", stars)) for stars in DIFFICULTIES]
        alone_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        mapset = run_mapset(request("mapset", None), DIFFICULTIES)
        together_s = time.perf_counter() - t0
        reds = {tuple((tp.time, tp.beat_length) for tp in read_beatmap(p).timing_points if tp.uninherited)
                for p in mapset.paths}
        print(f"three separate runs   {alone_s:6.1f} s  tokens {sum(r.tokens for r in separate):6d}  "
              f"objects {[len(read_beatmap(r.path).hit_objects) for r in separate]}")
        print(f"--difficulty 2,5,7    {together_s:6.1f} s  tokens {mapset.tokens:6d}  "
              f"objects {[len(read_beatmap(p).hit_objects) for p in mapset.paths]}  "
              f"timings shared: {len(reds) == 1}")
        print(f"one mapset run is {alone_s / together_s:.2f}x faster than three separate runs")


if __name__ == "__main__":
    main()
