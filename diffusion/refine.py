"""Refining a beatmap's positions with the diffusion model.

The coarse positions (the token model's 32 px grid plus offsets) are taken as the noisy sample
at the highest kept step and denoised from there. Long maps go in chunks with an overlap: a
chunk keeps the first `overlap` datapoints its predecessor settled and regenerates the next
`overlap` from their coarse values, so seams do not show. After every step each slider's end is
put where its control points reach at the slider's required length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from diffusion.features import (
    PLAYFIELD,
    ClassVocabulary,
    Datapoints,
    beatmap_datapoints,
    context_features,
    denormalise,
    normalise,
    slider_control_points,
    write_back,
)
from diffusion.schedule import Diffusion
from tokenization.beatmap import Beatmap, PathPoint
from tokenization.slider_path import SliderPath


@dataclass
class RefineSettings:
    steps: int = 100  # the lowest-noise steps of the schedule; sampling starts at t = steps - 1
    eta: float | None = None  # None: ancestral sampling (the published); 0: deterministic DDIM
    refine_iters: int = 0  # extra steps at t = 0
    cfg_scale: float = 1.0
    max_seq_len: int = 1024
    overlap: int = 128
    attention_radius: int = 128  # each datapoint sees this many neighbours each side
    start_time: float | None = None  # datapoints outside [start, end] stay where they are
    end_time: float | None = None
    seed: int | None = None


@dataclass
class MapClass:
    """What the class vector says about the map being refined."""

    stars: float | None = None
    mapper: int | None = None
    descriptors: tuple[str, ...] = ()
    negative_descriptors: tuple[str, ...] = ()
    circle_size: float | None = None


@dataclass
class RefineReport:
    datapoints: int = 0
    moved_px: float = 0.0  # mean distance moved


def refine_beatmap(model, vocabulary: ClassVocabulary, beatmap: Beatmap, settings: RefineSettings,
                   map_class: MapClass = MapClass(), progress: Callable[[int, int], None] | None = None,
                   device: str = "cpu") -> RefineReport:
    """Refine `beatmap`'s osu!/catch object positions in place."""
    points = beatmap_datapoints(beatmap)
    if len(points) == 0:
        return RefineReport()
    refined = refine_positions(model, vocabulary, points, settings, map_class, progress, device)
    write_back(points, refined)
    fit_slider_lengths(points)
    return RefineReport(len(points), float(np.linalg.norm(refined - points.xy, axis=1).mean()))


def refine_positions(model, vocabulary: ClassVocabulary, points: Datapoints, settings: RefineSettings,
                     map_class: MapClass = MapClass(), progress=None, device: str = "cpu") -> np.ndarray:
    """Refined [N, 2] pixel positions for the datapoints, inside the playfield."""
    diffusion = Diffusion.lowest(settings.steps)
    generator = torch.Generator(device="cpu").manual_seed(settings.seed if settings.seed is not None else 0)
    coarse = torch.as_tensor(normalise(points.xy), dtype=torch.float32)
    context = context_features(points)
    conditional = vocabulary.vector(map_class.stars, map_class.mapper, list(map_class.descriptors),
                                    map_class.circle_size)
    unconditional = vocabulary.vector(map_class.stars, None, list(map_class.negative_descriptors),
                                      map_class.circle_size)
    classes = torch.as_tensor(np.stack([conditional, unconditional]), device=device)
    fixed = torch.zeros(len(points), dtype=torch.bool)
    if settings.start_time is not None:
        fixed |= torch.as_tensor(points.time < settings.start_time)
    if settings.end_time is not None:
        fixed |= torch.as_tensor(points.time > settings.end_time)
    result = coarse.clone()
    stride = max(settings.max_seq_len - 2 * settings.overlap, 1)
    starts = list(range(0, max(len(points) - 2 * settings.overlap, 1), stride)) if len(points) > settings.max_seq_len \
        else [0]
    total = len(starts) * (settings.steps + settings.refine_iters)
    done = 0
    for start in starts:
        end = min(start + settings.max_seq_len, len(points))
        keep = fixed[start:end].clone()
        x = coarse[start:end].clone()
        if start > 0:  # the seam: the previous chunk's settled positions stay
            keep[:settings.overlap] = True
            x[:settings.overlap] = result[start:start + settings.overlap]
        known = x.clone()
        hook = _Hook(points, start, end, keep, known)
        x = x[None].to(device)
        c = context[start:end][None].to(device)
        mask = _band(end - start, settings.attention_radius, device)
        schedule = [*reversed(range(settings.steps)), *[0] * settings.refine_iters]
        for index in schedule:
            output = _guided_output(model, x, diffusion, index, c, classes, mask, settings.cfg_scale)
            x = diffusion.reverse_step(output, x, index, x0_hook=hook, generator=generator, eta=settings.eta)
            x = hook.restore(x)
            done += 1
            if progress is not None:
                progress(done, total)
        result[start:end] = hook(x)[0].cpu()
    pixels = np.clip(denormalise(result.numpy().astype(np.float64)), 0.0, PLAYFIELD)
    fixed_rows = fixed.numpy()
    pixels[fixed_rows] = points.xy[fixed_rows]  # exactly, not through float32 and back
    return pixels


def _band(length: int, radius: int, device):
    from diffusion.model import banded_mask

    return banded_mask(length, radius, device)


@torch.no_grad()
def _guided_output(model, x, diffusion: Diffusion, index: int, context, classes, mask, cfg_scale: float):
    t = torch.as_tensor([int(diffusion.timesteps[index])], device=x.device)
    if cfg_scale == 1.0:
        return model(x, t, context, classes[:1], mask)
    both = model(x.expand(2, -1, -1), t.expand(2), context.expand(2, -1, -1), classes, mask)
    channels = x.shape[-1]
    cond, uncond = both[:1], both[1:]
    eps = uncond[..., :channels] + cfg_scale * (cond[..., :channels] - uncond[..., :channels])
    return torch.cat([eps, cond[..., channels:]], dim=-1)


class _Hook:
    """Applied to every predicted x0: fixed datapoints keep their values, and slider ends move to
    where each slider's current control points reach at its required length."""

    def __init__(self, points: Datapoints, start: int, end: int, keep: torch.Tensor, known: torch.Tensor):
        self.points, self.start, self.end = points, start, end
        self.keep, self.known = keep, known
        self.sliders = [rows for rows in points.sliders
                        if start <= min(rows.head, rows.end) and max(rows.head, rows.end) < end]

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        if self.keep.any():
            x = x.clone()
            x[:, self.keep] = self.known[self.keep].to(x)
        return x

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        x0 = self.restore(x0)
        if not self.sliders:
            return x0
        pixels = np.zeros((len(self.points), 2))
        chunk = denormalise(x0[0].detach().cpu().numpy().astype(np.float64))
        pixels[self.start:self.end] = chunk
        for rows in self.sliders:
            if self.keep[rows.end - self.start]:
                continue
            pixels[rows.end] = slider_end(slider_control_points(rows, pixels), rows.length)
        x0 = x0.clone()
        x0[0] = torch.as_tensor(normalise(pixels[self.start:self.end]), dtype=x0.dtype)
        return x0


def slider_end(control: list[PathPoint], length: float) -> np.ndarray:
    """Where a slider with these control points ends when cut (or stretched) to `length`."""
    path = SliderPath.from_points(control)
    if path.distance <= 0:
        return np.array([control[0].x, control[0].y])
    return path.position_at(float(np.clip(length / path.distance, 0.0, 1.0)))


def fit_slider_lengths(points: Datapoints) -> None:
    """A slider whose refined control points fall short of its length is stretched: the last
    control point moves on along the final segment until the path is long enough (kept inside
    the playfield where it can be)."""
    for rows in points.sliders:
        slider = rows.obj
        natural = SliderPath.from_points(slider.path).distance
        if natural >= rows.length - 0.5 or len(slider.path) < 2:
            continue
        last, before = slider.path[-1], slider.path[-2]
        direction = np.array([last.x - before.x, last.y - before.y])
        norm = float(np.linalg.norm(direction))
        if norm == 0:
            continue
        stretched = np.array([last.x, last.y]) + direction / norm * (rows.length - natural + 1.0)
        slider.path[-1] = PathPoint(float(stretched[0]), float(stretched[1]), last.type)
