"""The rotary Whisper variants: RoPE Whisper (v30/v31) and VarWhisper (v32).

Module names follow the published checkpoints (`model.encoder.layers.N.self_attn.q_proj`, ... for
RoPE Whisper; fused `Wqkv`/`Wo`, and `cross_attn.Wq`/`Wkv`/`Wo` for VarWhisper). Differences from
Whisper: weight-only RMS norms (epsilon = float32 machine epsilon), rotary embeddings (rotate-half,
theta 10000) on self-attention queries and keys (none on cross-attention), no position tables.
VarWhisper layers that are not global attend within a local window (`local_attention` tokens); the
published configuration makes every layer global.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ROPE_THETA = 10000.0
NORM_EPS = torch.finfo(torch.float32).eps


class RMSNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.float().pow(2).mean(-1, keepdim=True)
        return (x.float() * torch.rsqrt(variance + NORM_EPS)).to(x.dtype) * self.weight


def rotary(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotate [batch, heads, tokens, head_dim] by each token's position (rotate-half layout)."""
    head_dim = x.shape[-1]
    inv_freq = 1.0 / (ROPE_THETA ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=x.device) / head_dim))
    angles = positions.float()[..., None] * inv_freq  # [batch, tokens, head_dim / 2]
    angles = torch.cat([angles, angles], dim=-1)[:, None]
    first, second = x.chunk(2, dim=-1)
    rotated = torch.cat([-second, first], dim=-1)
    return (x.float() * angles.cos() + rotated.float() * angles.sin()).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, *, rope: bool):
        super().__init__()
        self.heads, self.rope = heads, rope
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x, *, source=None, positions=None, mask=None, cache=None):
        """Self-attention when `source` is None, else cross-attention to it. `cache` holds (k, v)."""
        q = self._split(self.q_proj(x))
        if source is None:
            k, v = self._split(self.k_proj(x)), self._split(self.v_proj(x))
            if self.rope:
                q, k = rotary(q, positions), rotary(k, positions)
            if cache is not None and cache[0] is not None:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        elif cache is not None and cache[0] is not None:
            k, v = cache
        else:
            k, v = self._split(self.k_proj(source)), self._split(self.v_proj(source))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        b, h, t, hd = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, h * hd)), (k, v)


class FusedAttention(nn.Module):
    """VarWhisper attention: one projection for q, k, v (self) or q and one for k, v (cross)."""

    def __init__(self, dim: int, heads: int, *, cross: bool, window: int | None = None):
        super().__init__()
        self.heads, self.cross, self.window = heads, cross, window
        if cross:
            self.Wq = nn.Linear(dim, dim)
            self.Wkv = nn.Linear(dim, 2 * dim)
        else:
            self.Wqkv = nn.Linear(dim, 3 * dim)
        self.Wo = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x, *, source=None, positions=None, mask=None, cache=None):
        if self.cross:
            q = self._split(self.Wq(x))
            if cache is not None and cache[0] is not None:
                k, v = cache
            else:
                k, v = (self._split(t) for t in self.Wkv(source).chunk(2, dim=-1))
        else:
            q, k, v = (self._split(t) for t in self.Wqkv(x).chunk(3, dim=-1))
            q, k = rotary(q, positions), rotary(k, positions)
            if cache is not None and cache[0] is not None:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            if self.window:
                mask = _band(mask, positions, k.shape[2], self.window)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        b, h, t, hd = out.shape
        return self.Wo(out.transpose(1, 2).reshape(b, t, h * hd)), (k, v)


def _band(mask, positions, keys: int, window: int):
    """Restrict attention to keys within half the window of each query."""
    query_pos = positions[:, None, :, None]
    key_pos = torch.arange(keys, device=positions.device)[None, None, None, :]
    band = (query_pos - key_pos).abs() <= window // 2
    return band if mask is None else (mask & band)


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn: int, fused: bool = False, window: int | None = None):
        super().__init__()
        self.self_attn = FusedAttention(dim, heads, cross=False, window=window) if fused else \
            Attention(dim, heads, rope=True)
        self.self_attn_layer_norm = RMSNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.final_layer_norm = RMSNorm(dim)

    def forward(self, x, positions):
        x = x + self.self_attn(self.self_attn_layer_norm(x), positions=positions)[0]
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class DecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn: int, fused: bool = False, window: int | None = None):
        super().__init__()
        self.fused = fused
        self.self_attn = FusedAttention(dim, heads, cross=False, window=window) if fused else \
            Attention(dim, heads, rope=True)
        self.self_attn_layer_norm = RMSNorm(dim)
        if fused:
            self.cross_attn = FusedAttention(dim, heads, cross=True)
            self.cross_attn_layer_norm = RMSNorm(dim)
        else:
            self.encoder_attn = Attention(dim, heads, rope=False)
            self.encoder_attn_layer_norm = RMSNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.final_layer_norm = RMSNorm(dim)

    def forward(self, x, encoder_states, positions, mask, cache):
        self_cache, cross_cache = cache if cache is not None else (None, None)
        attended, self_cache = self.self_attn(self.self_attn_layer_norm(x), positions=positions, mask=mask,
                                              cache=self_cache)
        x = x + attended
        cross, cross_norm = ((self.cross_attn, self.cross_attn_layer_norm) if self.fused
                             else (self.encoder_attn, self.encoder_attn_layer_norm))
        attended, cross_cache = cross(cross_norm(x), source=encoder_states, cache=cross_cache)
        x = x + attended
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x)))), (self_cache, cross_cache)


def _windows(layers: int, fused: bool, every: int, window: int | None) -> list[int | None]:
    """Per layer: None for global attention, else the local window (VarWhisper only)."""
    return [None if not fused or not window or i % max(every, 1) == 0 else window for i in range(layers)]


class Encoder(nn.Module):
    def __init__(self, in_channels: int, dim: int, heads: int, ffn: int, layers: int, fused: bool = False,
                 windows: list[int | None] | None = None):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, kernel_size=3, stride=2, padding=1)
        windows = windows or [None] * layers
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, ffn, fused, w) for w in windows)
        self.layer_norm = RMSNorm(dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # [batch, channels, frames]
        x = F.gelu(self.conv2(F.gelu(self.conv1(features)))).transpose(1, 2)
        positions = torch.arange(x.shape[1], device=x.device)[None].expand(x.shape[0], -1)
        for layer in self.layers:
            x = layer(x, positions)
        return self.layer_norm(x)


class Decoder(nn.Module):
    def __init__(self, vocab: int, dim: int, heads: int, ffn: int, layers: int, fused: bool = False,
                 windows: list[int | None] | None = None):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)  # stored in checkpoints; inputs come via decoder_embedder
        windows = windows or [None] * layers
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, ffn, fused, w) for w in windows)
        self.layer_norm = RMSNorm(dim)

    def forward(self, embeds, encoder_states, *, attention_mask=None, past=None, position_ids=None):
        batch, new = embeds.shape[:2]
        past_length = past[0][0][0].shape[2] if past else 0
        if position_ids is None:
            position_ids = torch.arange(past_length, past_length + new, device=embeds.device)[None].expand(batch, -1)
        total = past_length + new
        causal = torch.ones(new, total, dtype=torch.bool, device=embeds.device).tril(diagonal=past_length)
        mask = causal[None, None].expand(batch, 1, new, total)
        if attention_mask is not None:
            mask = mask & attention_mask[:, None, None, -total:].bool()
        x = embeds
        caches = []
        for index, layer in enumerate(self.layers):
            x, cache = layer(x, encoder_states, position_ids, mask, past[index] if past else None)
            caches.append(cache)
        return self.layer_norm(x), caches


class RopeWhisperModel(nn.Module):
    def __init__(self, cfg, in_channels: int, fused: bool = False):
        super().__init__()
        every = getattr(cfg, "global_attn_every_n_layers", 1)
        window = getattr(cfg, "local_attention", None)
        self.encoder = Encoder(in_channels, cfg.d_model, cfg.encoder_attention_heads, cfg.encoder_ffn_dim,
                               cfg.encoder_layers, fused, _windows(cfg.encoder_layers, fused, every, window))
        self.decoder = Decoder(cfg.vocab_size, cfg.d_model, cfg.decoder_attention_heads, cfg.decoder_ffn_dim,
                               cfg.decoder_layers, fused, _windows(cfg.decoder_layers, fused, every, window))


class RopeWhisperForConditionalGeneration(nn.Module):
    def __init__(self, cfg, in_channels: int, fused: bool = False):
        super().__init__()
        self.model = RopeWhisperModel(cfg, in_channels, fused)
        self.proj_out = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)


def rbf(x: torch.Tensor, centres: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    return torch.exp(-((x[..., None] - centres) ** 2) / (2 * widths ** 2))


class DifficultyEmbedder(nn.Module):
    def __init__(self, out_dim: int, basis: int = 8):
        super().__init__()
        self.basis_centers = nn.Parameter(torch.linspace(0, 1, basis))
        self.basis_widths = nn.Parameter(torch.full((basis,), 1.0 / basis))
        self.difficulty_proj = nn.Sequential(nn.Linear(basis, out_dim), nn.LayerNorm(out_dim), nn.ReLU(),
                                             nn.Dropout(0.0), nn.Linear(out_dim, out_dim), nn.LayerNorm(out_dim))

    def forward(self, difficulty: torch.Tensor) -> torch.Tensor:  # star ratings [batch]
        return self.difficulty_proj(rbf(difficulty.float() / 10, self.basis_centers, self.basis_widths))


class MapperEmbedder(nn.Module):
    def __init__(self, num_mappers: int, out_dim: int):
        super().__init__()
        self.num_mappers = num_mappers
        self.embedding = nn.Embedding(num_mappers + 1, out_dim)  # the last row: unknown mapper
        self.layer_norm = nn.LayerNorm(out_dim)

    def forward(self, mapper_idx: torch.Tensor) -> torch.Tensor:
        index = torch.where(mapper_idx < 0, torch.full_like(mapper_idx, self.num_mappers), mapper_idx)
        return self.layer_norm(self.embedding(index.clamp(0, self.num_mappers).long()))


class SongPositionEmbedder(nn.Module):
    def __init__(self, out_dim: int, basis: int = 10):
        super().__init__()
        self.basis_centers = nn.Parameter(torch.linspace(0, 1, basis))
        self.basis_widths = nn.Parameter(torch.full((basis,), 1.0 / basis))
        hidden = 2 * out_dim
        self.position_proj = nn.Sequential(nn.Linear(2 * basis, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                                           nn.Dropout(0.0), nn.Linear(hidden, out_dim), nn.LayerNorm(out_dim))

    def forward(self, song_position: torch.Tensor) -> torch.Tensor:  # [batch, 2]: window start, end / length
        features = rbf(song_position.float(), self.basis_centers, self.basis_widths).flatten(1)
        return self.position_proj(features)


def attention_scale(head_dim: int) -> float:
    return 1 / math.sqrt(head_dim)
