"""The position-refinement model: a DiT (diffusion transformer with adaLN-Zero conditioning)
over a sequence of hit-object datapoints instead of image patches.

Each datapoint's noisy (x, y) is embedded with sinusoids at pixel scale and joined with its
context (time, distance to the previous datapoint, object type); the diffusion timestep and the
map's class vector (difficulty, mapper, descriptors, CS) modulate every block. There is no
positional embedding: order comes from the time embedding. Attention can be banded so a
datapoint sees only its neighbours, as in training windows.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

PLAYFIELD = (512.0, 384.0)  # osu! pixels
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class DiffusionConfig:
    hidden_size: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    context_size: int = 272  # time (128) + distance (128) + type one-hot (16)
    class_size: int = 1  # length of the multi-hot class vector
    in_channels: int = 2  # x, y
    learn_sigma: bool = True
    position_frequencies: int = 128  # sinusoid size per coordinate
    timestep_frequencies: int = 256
    model_type: str = "osu-diffusion"

    def save(self, folder: Path) -> None:
        (Path(folder) / CONFIG_NAME).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> DiffusionConfig:
        """The folder's config, read as a small regular file, its sizes checked before any model is
        built from them (models.checkpoint_checks)."""
        from models.checkpoint_checks import size_problem
        from tokenization.errors import MapperInputError
        from tokenization.small_files import read_json

        path = Path(folder) / CONFIG_NAME
        data = read_json(path)
        problem = size_problem(data, SIZE_LIMITS)
        if problem is None and isinstance(data.get("mlp_ratio", 1.0), bool | int | float):
            ratio = data.get("mlp_ratio", 1.0)
            if isinstance(ratio, bool) or not 0 < ratio <= MAX_MLP_RATIO:
                problem = f"mlp_ratio is {ratio!r}, not a number in (0, {MAX_MLP_RATIO}]"
        elif problem is None:
            problem = f"mlp_ratio is {data['mlp_ratio']!r}, not a number"
        if problem is None and data.get("hidden_size", 768) % data.get("num_heads", 12):
            problem = f"hidden_size {data.get('hidden_size', 768)} is not a multiple of num_heads {data.get('num_heads', 12)}"
        if problem:
            raise MapperInputError(f"{path}: {problem}")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


# Sizes a diffusion config may ask for: the published model is DiT-B sized (768 wide, 12 blocks);
# the limits are far beyond any DiT, so that only absurd ones (10^9 wide) are refused.
SIZE_LIMITS = {"hidden_size": (1, 16_384), "depth": (1, 256), "num_heads": (1, 1_024), "context_size": (0, 65_536),
               "class_size": (1, 1_000_000), "in_channels": (1, 64), "position_frequencies": (2, 65_536),
               "timestep_frequencies": (2, 65_536)}
MAX_MLP_RATIO = 64.0


def sinusoids(values: torch.Tensor, size: int, max_period: float = 10_000.0) -> torch.Tensor:
    """[..., ] -> [..., size]: cos then sin of `values` at geometrically spaced frequencies."""
    half = size // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=values.device) / half)
    args = values.float()[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class FirstLayer(nn.Module):
    """Noisy positions (as pixel-scale sinusoids) joined with the per-datapoint context."""

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.frequencies = config.position_frequencies
        size = config.in_channels * config.position_frequencies + config.context_size
        self.mlp = nn.Sequential(nn.Linear(size, config.hidden_size))
        self.playfield_size = nn.Parameter(torch.tensor(PLAYFIELD), requires_grad=False)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        pixels = x * self.playfield_size
        embedded = sinusoids(pixels, self.frequencies).flatten(-2)  # [B, T, 2 * F]
        return self.mlp(torch.cat([embedded, context], dim=-1))


class TimestepEmbedder(nn.Module):
    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.frequencies = config.timestep_frequencies
        self.mlp = nn.Sequential(nn.Linear(self.frequencies, config.hidden_size), nn.SiLU(),
                                 nn.Linear(config.hidden_size, config.hidden_size))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoids(t, self.frequencies))


class ClassEmbedder(nn.Module):
    """The multi-hot class vector (difficulty, mapper, descriptors, CS bins) to one vector."""

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(config.class_size, config.hidden_size), nn.SiLU(),
                                 nn.Linear(config.hidden_size, config.hidden_size))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.mlp(y.float())


class Mlp(nn.Module):
    def __init__(self, size: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(size, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    def __init__(self, config: DiffusionConfig):
        super().__init__()
        d = config.hidden_size
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(d, config.num_heads, add_bias_kv=True, batch_first=True)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d, int(d * config.mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))  # noqa: N815 - published name

    def forward(self, x: torch.Tensor, c: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.adaLN_modulation(c).chunk(6, dim=-1)
        h = modulate(self.norm1(x), shift_a, scale_a)
        attended, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False)
        x = x + gate_a.unsqueeze(1) * attended
        return x + gate_m.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_m, scale_m))


class FinalLayer(nn.Module):
    def __init__(self, config: DiffusionConfig, out_channels: int):
        super().__init__()
        d = config.hidden_size
        self.norm_final = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(d, out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))  # noqa: N815 - published name

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    """forward(x [B,T,2] in [-1,1], t [B], context [B,T,C], y [B,K]) -> [B,T,4]: predicted noise
    for x and y, then the two variance-interpolation channels."""

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.config = config
        self.out_channels = config.in_channels * (2 if config.learn_sigma else 1)
        self.xc_embedder = FirstLayer(config)
        self.t_embedder = TimestepEmbedder(config)
        self.y_embedder = ClassEmbedder(config)
        self.blocks = nn.ModuleList(DiTBlock(config) for _ in range(config.depth))
        self.final_layer = FinalLayer(config, self.out_channels)
        self._initialise()

    def _initialise(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.xc_embedder.mlp[0].weight, std=0.02)
        for layer in (self.t_embedder.mlp[0], self.t_embedder.mlp[2], self.y_embedder.mlp[0], self.y_embedder.mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        # adaLN-Zero: every block starts as the identity, the output as zero
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        for layer in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, y: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.xc_embedder(x, context)
        c = self.t_embedder(t) + self.y_embedder(y)
        for block in self.blocks:
            h = block(h, c, mask)
        return self.final_layer(h, c)


def banded_mask(length: int, radius: int, device=None) -> torch.Tensor | None:
    """Boolean [T, T] mask (True = blocked) letting each datapoint see only `radius` neighbours each side."""
    if length <= radius + 1:
        return None
    index = torch.arange(length, device=device)
    return (index[None, :] - index[:, None]).abs() > radius


def save_model(model: DiT, folder: Path) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.config.save(folder)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / WEIGHTS_NAME))


def check_folder(folder: Path) -> DiffusionConfig:
    """The folder's config, its sizes and every weight's shape checked against it, nothing
    allocated (models.checkpoint_checks); one line naming the file otherwise."""
    from models.checkpoint_checks import check_weights

    config = DiffusionConfig.load(folder)
    check_weights(Path(folder) / WEIGHTS_NAME, lambda: DiT(config), Path(folder) / CONFIG_NAME)
    return config


def load_model(folder: Path, device: str = "cpu") -> DiT:
    from safetensors.torch import load_file

    model = DiT(check_folder(folder))
    state = load_file(str(folder / WEIGHTS_NAME), device="cpu")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        from tokenization.errors import MapperInputError

        raise MapperInputError(f"{folder}: not a diffusion checkpoint this model reads (missing "
                               f"{len(missing)} and unexpected {len(unexpected)} weights, e.g. "
                               f"{(missing or unexpected)[0]})")
    return model.to(device).eval()
