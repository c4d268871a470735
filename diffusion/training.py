"""Training the position-refinement model on an MMRS dataset (`mapper train --profile diffusion`).

Windows of `window` consecutive datapoints from the dataset's osu! standard maps, flipped,
sped up (DT) and with noisy distances at random; the absolute time is hidden by a random shift.
Only the lowest-noise `max_diffusion_step` steps are trained, the ones refinement samples.

Over 300 lines: the folder a run writes is read back here too (its class vocabulary and sampling
settings, checked as untrusted files), beside the profile and loop that write it.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from diffusion.features import ClassVocabulary, Datapoints, beatmap_datapoints, context_features, normalise
from diffusion.model import DiffusionConfig, DiT, save_model
from diffusion.schedule import Diffusion
from tokenization.errors import MapperInputError

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles" / "diffusion"
VOCABULARY_NAME = "tokenizer.json"
INFERENCE_NAME = "refine.json"  # the sampling settings a trained model is meant to be used with
DT_SPEED = 1.5


@dataclass(frozen=True)
class DiffusionTraining:
    window: int = 128
    stride: int = 16
    batch_size: int = 256
    learning_rate: float = 2e-4
    max_steps: int = 400_000
    warmup_steps: int = 10_000
    final_learning_rate: float = 1e-5
    max_diffusion_step: int = 100
    class_dropout: float = 0.2
    dt_probability: float = 0.5
    flip_probability: float = 0.5
    distance_noise: float = 0.1  # std of the log2 scale noise on distances
    ema_decay: float = 0.9999  # 0: no EMA
    checkpoint_every: int = 50_000
    log_every: int = 100
    grad_clip: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class DiffusionInference:
    steps: int = 100
    eta: float | None = None  # None: ancestral sampling; a number: DDIM with that much noise
    cfg_scale: float = 1.0
    max_seq_len: int = 1024
    overlap: int = 128
    attention_radius: int = 128


@dataclass(frozen=True)
class DiffusionProfile:
    name: str
    model: dict = field(default_factory=dict)
    training: DiffusionTraining = DiffusionTraining()
    inference: DiffusionInference = DiffusionInference()


def is_diffusion_profile(name_or_path: str) -> bool:
    path = Path(name_or_path)
    if path.suffix:
        return path.is_file() and "kind: diffusion" in path.read_text(encoding="utf-8", errors="replace")
    return (PROFILE_DIR / f"{name_or_path}.yaml").is_file()


def load_diffusion_profile(name_or_path: str) -> DiffusionProfile:
    import yaml

    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if data.get("kind") != "diffusion":
        raise MapperInputError(f"{path.name}: not a diffusion profile (kind: diffusion)")

    def section(cls, key):
        values = data.get(key) or {}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise MapperInputError(f"{path.name}: unknown setting {key}.{unknown[0]}")
        return cls(**values)

    model = dict(data.get("model") or {})
    unknown = sorted(set(model) - set(DiffusionConfig.__dataclass_fields__))
    if unknown:
        raise MapperInputError(f"{path.name}: unknown setting model.{unknown[0]}")
    return DiffusionProfile(data.get("name", path.stem), model, section(DiffusionTraining, "training"),
                            section(DiffusionInference, "inference"))


# -- data ------------------------------------------------------------------------------------------
@dataclass
class _Map:
    points: Datapoints
    stars: float | None
    stars_dt: float | None
    mapper: int | None
    descriptors: tuple[str, ...]
    circle_size: float


def load_maps(data_dir: Path, log: Callable[[str], None] = print,
              exclude: Callable[[Path], bool] = lambda path: False) -> list[_Map]:
    """The osu! standard maps of an MMRS dataset or, since positions need no audio, of any folder
    of `.osu` files (duplicates by content once; unreadable files skipped and named)."""
    from tokenization import read_beatmap

    data_dir = Path(data_dir)
    if (data_dir / "metadata.parquet").is_file():
        from training.examples import read_records

        sources = [(r.beatmap_path, r.stars_at(1.0), r.stars_at(DT_SPEED), r.mapper_id, r.descriptors)
                   for r in read_records(data_dir, gamemodes=(0,))]
    elif data_dir.is_dir():
        sources = [(path, None, None, None, ()) for path in sorted(data_dir.rglob("*.osu"))]
    else:
        raise MapperInputError(f"{data_dir}: no such dataset folder")
    maps, seen = [], set()
    for path, stars, stars_dt, mapper, descriptors in sources:
        if exclude(path):
            continue
        try:
            raw = path.read_bytes()
            if raw in seen:
                continue
            seen.add(raw)
            beatmap = read_beatmap(path)
            if beatmap.mode.value != 0:
                continue
            if stars is None:
                stars, stars_dt = _star_ratings(raw)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop training
            log(f"skipped {path.name}: {' '.join(str(exc).split())[:120]}")
            continue
        maps.append(_Map(beatmap_datapoints(beatmap), stars, stars_dt, mapper, tuple(descriptors),
                         beatmap.difficulty.circle_size))
    return maps


def _star_ratings(raw: bytes) -> tuple[float | None, float | None]:
    import rosu_pp_py as rosu

    rosu_map = rosu.Beatmap(bytes=raw)
    return tuple(float(rosu.Difficulty(clock_rate=rate).calculate(rosu_map).stars) for rate in (1.0, DT_SPEED))


class WindowSampler:
    """Random training windows with the profile's augmentations; all randomness from `rng`."""

    def __init__(self, maps: list[_Map], vocabulary: ClassVocabulary, settings: DiffusionTraining, rng: random.Random):
        self.maps = [m for m in maps if len(m.points) >= settings.window]
        if not self.maps:
            raise MapperInputError(f"no osu! standard map in the dataset has {settings.window} datapoints or more")
        self.vocabulary, self.s, self.rng = vocabulary, settings, rng
        self.weights = [(len(m.points) - settings.window) // settings.stride + 1 for m in self.maps]

    def batch(self, size: int) -> dict[str, torch.Tensor]:
        samples = [self.sample() for _ in range(size)]
        stacked = {k: np.stack([sample[k] for sample in samples]) for k in samples[0]}
        context = context_features(Datapoints(stacked["xy"], stacked["time"], stacked["kind"], stacked["distance"]))
        return {"x0": torch.as_tensor(normalise(stacked["xy"]), dtype=torch.float32), "context": context,
                "classes": torch.as_tensor(stacked["classes"])}

    def sample(self) -> dict[str, np.ndarray]:
        s, rng = self.s, self.rng
        chosen = rng.choices(self.maps, weights=self.weights)[0]
        starts = (len(chosen.points) - s.window) // s.stride + 1
        start = min(rng.randrange(starts) * s.stride + rng.randrange(s.stride), len(chosen.points) - s.window)
        window = slice(start, start + s.window)
        p = chosen.points
        xy, times, distance = p.xy[window].copy(), p.time[window].copy(), p.distance[window].copy()
        if rng.random() < s.flip_probability:
            xy[:, 0] = 512 - xy[:, 0]
        if rng.random() < s.flip_probability:
            xy[:, 1] = 384 - xy[:, 1]
        stars = chosen.stars
        if rng.random() < s.dt_probability:
            times, stars = times / DT_SPEED, chosen.stars_dt
        if s.distance_noise > 0:
            noise = np.random.default_rng(rng.getrandbits(32)).normal(0, s.distance_noise, len(distance))
            distance = distance * 2.0 ** noise
        times = times - times[0] + rng.uniform(0, 1e6)
        drop = lambda: rng.random() < s.class_dropout  # noqa: E731
        classes = self.vocabulary.vector(None if drop() else stars, None if drop() else chosen.mapper,
                                         [] if drop() else list(chosen.descriptors),
                                         None if drop() else chosen.circle_size)
        return {"xy": xy, "time": times, "kind": p.kind[window], "distance": distance, "classes": classes}


def class_vocabulary(maps: list[_Map]) -> ClassVocabulary:
    mappers = sorted({m.mapper for m in maps if m.mapper is not None})
    descriptors = sorted({d for m in maps for d in m.descriptors})
    return ClassVocabulary(mappers, descriptors)


# -- the loop --------------------------------------------------------------------------------------
def lr_at(step: int, s: DiffusionTraining) -> float:
    if step < s.warmup_steps:
        return s.learning_rate * (0.5 + 0.5 * step / max(s.warmup_steps, 1))
    progress = min((step - s.warmup_steps) / max(s.max_steps - s.warmup_steps, 1), 1.0)
    return s.final_learning_rate + 0.5 * (s.learning_rate - s.final_learning_rate) * (1 + math.cos(math.pi * progress))


def train_diffusion(profile: DiffusionProfile, data_dir: Path, out_dir: Path, *, max_steps: int | None = None,
                    batch_size: int | None = None, learning_rate: float | None = None, resume: bool = False,
                    log: Callable[[str], None] = print, exclude: Callable[[Path], bool] = lambda path: False,
                    progress: Callable[[int, int, float], None] | None = None) -> Path:
    """Train and write the model folder (config.json, model.safetensors, tokenizer.json) to `out_dir`."""
    import dataclasses

    s = dataclasses.replace(profile.training, **{k: v for k, v in (("max_steps", max_steps), ("batch_size", batch_size),
                                                                   ("learning_rate", learning_rate)) if v})
    out_dir = Path(out_dir)
    state_path = out_dir / "diffusion_state.pt"
    if out_dir.exists() and any(out_dir.iterdir()) and not resume:
        raise MapperInputError(f"{out_dir} is not empty (use --resume to continue a run there, or another --out)")
    maps = load_maps(data_dir, log, exclude)
    vocabulary = class_vocabulary(maps)
    rng = random.Random(s.seed)
    torch.manual_seed(s.seed)
    config = DiffusionConfig(**profile.model, class_size=vocabulary.size)
    model = DiT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.learning_rate, weight_decay=0.0)
    ema = DiT(config).requires_grad_(False) if s.ema_decay > 0 else None
    if ema is not None:
        ema.load_state_dict(model.state_dict())
    step = 0
    if resume and state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
        step = int(state["step"])
        rng.seed(s.seed + step)
    sampler = WindowSampler(maps, vocabulary, s, rng)
    diffusion = Diffusion.lowest(s.max_diffusion_step)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = (out_dir / "metrics.jsonl").open("a", encoding="utf-8")
    model.train()
    started = time.perf_counter()
    window: list[tuple[float, float]] = []
    while step < s.max_steps:
        batch = sampler.batch(s.batch_size)
        x0 = batch["x0"]
        index = torch.randint(0, len(diffusion), (len(x0),))
        noise = torch.randn_like(x0)
        xt = diffusion.q_sample(x0, index, noise)
        output = model(xt, diffusion.model_steps(index), batch["context"], batch["classes"])
        loss = diffusion.loss(output, x0, xt, index, noise, torch.ones(x0.shape[:2])).mean()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, s)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip))
        optimizer.step()
        if ema is not None:
            with torch.no_grad():
                for e, p in zip(ema.parameters(), model.parameters()):
                    e.lerp_(p, 1 - s.ema_decay)
        step += 1
        value = float(loss.detach())
        window.append((value, float(((output[..., :2].detach() - noise) ** 2).mean())))
        if progress is not None:
            progress(step, s.max_steps, value)
        if step % s.log_every == 0 or step == 1 or step == s.max_steps:
            # single batches are noisy at these low noise levels: log the mean since the last line
            losses, mses = zip(*window)
            metrics.write(json.dumps({"step": step, "loss": sum(losses) / len(losses), "mse": sum(mses) / len(mses),
                                      "lr": lr_at(step - 1, s), "grad_norm": grad_norm,
                                      "seconds": round(time.perf_counter() - started, 2)}) + "\n")
            metrics.flush()
            window.clear()
        if step % s.checkpoint_every == 0 or step == s.max_steps:
            _save(out_dir, ema or model, vocabulary, profile.inference, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                                     "step": step, **({"ema": ema.state_dict()} if ema else {})})
    metrics.close()
    return out_dir


def _save(out_dir: Path, model: DiT, vocabulary: ClassVocabulary, inference: DiffusionInference,
          state: dict) -> None:
    """Weights, class vocabulary, sampling settings and training state side by side, each replaced atomically."""
    import dataclasses
    import os
    import tempfile

    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=out_dir))
    try:
        save_model(model, staging)
        (staging / VOCABULARY_NAME).write_text(json.dumps(vocabulary.to_json(), indent=2) + "\n", encoding="utf-8")
        (staging / INFERENCE_NAME).write_text(json.dumps(dataclasses.asdict(inference), indent=2) + "\n",
                                              encoding="utf-8")
        torch.save(state, staging / "diffusion_state.pt")
        for item in staging.iterdir():
            os.replace(item, out_dir / item.name)
    finally:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)


def load_vocabulary(folder: Path) -> ClassVocabulary:
    from tokenization.small_files import MAX_TOKENIZER_BYTES, read_json

    path = Path(folder) / VOCABULARY_NAME
    data = read_json(path, MAX_TOKENIZER_BYTES) if os.path.lexists(path) else {}
    if not all(isinstance(data.get(key, []), list) for key in ("mappers", "descriptors")):
        raise MapperInputError(f"{path}: mappers and descriptors must be lists")
    return ClassVocabulary.from_json(data)


def load_inference(folder: Path) -> DiffusionInference:
    """The model's own sampling settings, or the published model's (100 ancestral steps)."""
    from models.checkpoint_checks import size_problem
    from tokenization.small_files import read_json

    path = Path(folder) / INFERENCE_NAME
    data = read_json(path) if os.path.lexists(path) else {}
    # the published model samples 100 steps over windows of 1024 datapoints
    problem = size_problem(data, {"steps": (1, 10_000), "max_seq_len": (2, 65_536), "overlap": (0, 65_535),
                                  "attention_radius": (0, 65_536)})
    if problem or any(isinstance(data.get(k), bool | str | list | dict) for k in ("eta", "cfg_scale")):
        raise MapperInputError(f"{path}: {problem or 'eta and cfg_scale must be numbers'}")
    return DiffusionInference(**{k: v for k, v in data.items() if k in DiffusionInference.__dataclass_fields__})
