"""Does diffusion refinement move coarse positions towards the real ones?

Trains `diffusion-tiny` on the corpus's osu! standard maps without the held-aside map's song (or
takes a model you trained), snaps every circle, slider head and
control point to the centre of its 32 px grid cell (what the token model's coarse positions look
like), refines that with several numbers of denoising steps, and reports the mean pixel error
against the original before and after, plus the worst slider-length error.

    python bench/diffusion_refine.py                     # train (about 10 min on 2 cores), then measure
    python bench/diffusion_refine.py --model runs/diffusion --map held_aside.osu
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus"
HELD_ASIDE = (CORPUS / "Coosu+Coosu" / "Chata & nayuta - Yuune Zekka, Ryouran no Sai (sjoy)"
              / "Chata & nayuta - Yuune Zekka, Ryouran no Sai (sjoy) [Replay].osu")
GRID_PX = 32


def snap_to_grid(beatmap):
    from tokenization.beatmap import Circle, PathPoint, Slider

    cell = lambda v: float(np.floor(v / GRID_PX) * GRID_PX + GRID_PX / 2)  # noqa: E731
    coarse = copy.deepcopy(beatmap)
    for obj in coarse.hit_objects:
        if isinstance(obj, (Circle, Slider)):
            obj.x, obj.y = cell(obj.x), cell(obj.y)
        if isinstance(obj, Slider):
            obj.path = [PathPoint(cell(p.x), cell(p.y), p.type) for p in obj.path]
    return coarse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a trained diffusion model (default: train diffusion-tiny)")
    parser.add_argument("--map", type=Path, default=HELD_ASIDE)
    parser.add_argument("--out", type=Path, default=Path("runs/diffusion-bench"), help="where to train")
    parser.add_argument("--objects", type=int, default=400, help="refine the first N objects")
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20, 50, 100])
    args = parser.parse_args()

    import rosu_pp_py as rosu

    from diffusion.features import beatmap_datapoints
    from diffusion.loading import load_vocabulary
    from diffusion.model import load_model
    from diffusion.refine import MapClass, RefineSettings, refine_positions
    from tokenization import read_beatmap

    if args.model is None:
        from training.diffusion import load_diffusion_profile, train_diffusion

        song = args.map.parent.name
        started = time.perf_counter()
        train_diffusion(load_diffusion_profile("diffusion-tiny"), CORPUS, args.out, resume=True,
                        exclude=lambda path: path.parent.name == song, log=lambda message: None)
        lines = (args.out / "metrics.jsonl").read_text().splitlines()
        first, last = (__import__("json").loads(lines[i]) for i in (0, -1))
        print(f"trained diffusion-tiny without {song!r}: loss {first['loss']:.3f} -> {last['loss']:.3f} "
              f"(noise MSE {first['mse']:.3f} -> {last['mse']:.3f}) in {time.perf_counter() - started:.0f} s")
        args.model = args.out
    original = read_beatmap(args.map)
    original.hit_objects = original.hit_objects[:args.objects]
    stars = float(rosu.Difficulty().calculate(rosu.Beatmap(path=str(args.map))).stars)
    truth = beatmap_datapoints(original)
    coarse = beatmap_datapoints(snap_to_grid(original))
    coarse.distance = truth.distance  # the token model writes the distance to the previous object exactly
    placed = np.isin(coarse.kind, [0, 1, 4, 5, 6, 7, 8, 9, 10])  # ends and spinners follow from these
    error = lambda xy: float(np.linalg.norm(xy - truth.xy, axis=1)[placed].mean())  # noqa: E731
    model, vocabulary = load_model(args.model), load_vocabulary(args.model)
    print(f"{args.map.name}: {placed.sum()} positioned datapoints, grid error {error(coarse.xy):.2f} px")
    for sampler, eta in (("ancestral", None), ("DDIM eta=0", 0.0)):
        for steps in args.steps:
            started = time.perf_counter()
            refined = refine_positions(model, vocabulary, coarse, RefineSettings(steps=steps, seed=0, eta=eta),
                                       MapClass(stars=stars, circle_size=original.difficulty.circle_size))
            print(f"  {sampler:>10}, {steps:>3} steps: refined error {error(refined):.2f} px "
                  f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
