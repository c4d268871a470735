"""A lean incremental decoder for the Whisper (v29) backbone: the same modules and arithmetic as
transformers' WhisperDecoder (its logits equal them bit for bit in the tests), with a plain KV cache
written in place and none of the generic per-step bookkeeping (cache objects, mask building,
module dispatch through keyword plumbing).

Why: one decoding step must read every decoder weight (about 400 MB at the full v29 size, ~16 ms
of memory traffic on a 2-core CPU), so the only time left to win is the overhead around it, which
dominates for small models and batched rows. Cross-attention keys/values are computed once per
window (under the encoder's precision, see `Mapperatorinator.encoder_precision`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WhisperKVDecoder:
    """Decodes a batch of rows over fixed encoder states; `prefill` once, then `step` per token."""

    def __init__(self, model: nn.Module, encoder_states: torch.Tensor, capacity: int):
        decoder = model.transformer.model.decoder
        self.embed = model.decoder_embedder
        self.positions = decoder.embed_positions.weight
        self.final_norm = decoder.layer_norm
        self.proj_out = model.transformer.proj_out
        with model.encoder_precision(encoder_states.device.type):
            self.layers = [_Layer(layer, encoder_states) for layer in decoder.layers]
        first = decoder.layers[0].self_attn
        self.heads, self.head_dim = first.num_heads, first.head_dim
        self.capacity, self.length = capacity, 0
        self.keys = self.values = self.key_mask = None

    def _reserve(self, length: int) -> None:
        """Room for `length` tokens. The cache grows by doubling rather than being sized for the
        model's whole target length (2048 tokens: 150 MB per row at full size), which most windows
        never reach. Slots past `self.length` are never read, so they need no zeroing."""
        held = 0 if self.keys is None else self.keys.shape[3]
        if length <= held:
            return
        size = min(self.capacity, max(length, 2 * held, 256)) if length <= self.capacity else length
        like = self.layers[0].cross_k
        rows = like.shape[0]
        keys = like.new_empty((len(self.layers), rows, self.heads, size, self.head_dim))
        values = torch.empty_like(keys)
        key_mask = torch.zeros((rows, 1, 1, size), dtype=torch.bool, device=like.device)
        if held:
            keys[:, :, :, :self.length] = self.keys[:, :, :, :self.length]
            values[:, :, :, :self.length] = self.values[:, :, :, :self.length]
            key_mask[..., :self.length] = self.key_mask[..., :self.length]
        self.keys, self.values, self.key_mask = keys, values, key_mask

    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        """Logits of the last prompt token, [rows, vocab_out]; prompts are left-padded."""
        width = input_ids.shape[1]
        self._reserve(width)
        self.key_mask[:, 0, 0, :width] = attention_mask.bool()
        causal = torch.ones((width, width), dtype=torch.bool, device=input_ids.device).tril()
        mask = self.key_mask[:, :, :, :width] & causal
        # A fully padded query row would attend to nothing (NaN); let it see itself, it is never read.
        mask = mask | torch.eye(width, dtype=torch.bool, device=input_ids.device)
        return self._forward(input_ids, position_ids, mask)[:, -1]

    def step(self, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        """Logits [rows, vocab_out] after appending one token per row ([rows, 1] ids)."""
        self._reserve(self.length + 1)
        self.key_mask[:, 0, 0, self.length] = True
        return self._forward(input_ids, position_ids, self.key_mask[:, :, :, :self.length + 1])[:, -1]

    def reorder(self, rows: torch.Tensor) -> None:
        """Row i continues what row rows[i] held (beam search). Rows only move among those that
        share an audio window, so the cross-attention states stay as they are."""
        self.keys, self.values = self.keys[:, rows], self.values[:, rows]
        self.key_mask = self.key_mask[rows]

    def _forward(self, input_ids, position_ids, mask) -> torch.Tensor:
        start, width = self.length, input_ids.shape[1]
        hidden = self.embed(input_ids) + self.positions[position_ids]
        mask = additive_mask(mask, self.keys.dtype)
        for index, layer in enumerate(self.layers):
            keys = self.keys[index, :, :, :start + width]
            values = self.values[index, :, :, :start + width]
            hidden = layer(hidden, keys, values, start, mask, self.heads, self.head_dim)
        self.length = start + width
        return self.proj_out(self.final_norm(hidden))


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The boolean mask as the 0 / -inf bias attention adds, once per step for every layer:
    attention would otherwise convert the boolean mask again in each of them (twice the cost of the
    attention itself for one query token on a CPU). The same numbers either way."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(~allowed, float("-inf"))


class _Layer:
    def __init__(self, layer: nn.Module, encoder_states: torch.Tensor):
        attn, cross = layer.self_attn, layer.encoder_attn
        self.scaling = attn.scaling
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (attn.q_proj, attn.k_proj, attn.v_proj,
                                                                       attn.out_proj)
        # `--precision int8` adds one fused q/k/v projection (models.quantization): one product per step
        self.qkv_proj = getattr(attn, "qkv_proj", None)
        self.norm1, self.norm2, self.norm3 = layer.self_attn_layer_norm, layer.encoder_attn_layer_norm, layer.final_layer_norm
        self.cross_q, self.cross_out = cross.q_proj, cross.out_proj
        self.cross_scaling = cross.scaling
        heads, head_dim = cross.num_heads, cross.head_dim
        rows = encoder_states.shape[0]
        # Contiguous once here: attention would otherwise copy these 3 MB views at every step.
        self.cross_k = cross.k_proj(encoder_states).float().view(rows, -1, heads, head_dim).transpose(1, 2).contiguous()
        self.cross_v = cross.v_proj(encoder_states).float().view(rows, -1, heads, head_dim).transpose(1, 2).contiguous()
        self.fc1, self.fc2, self.activation = layer.fc1, layer.fc2, layer.activation_fn

    def __call__(self, hidden, keys, values, start, mask, heads, head_dim):
        """One layer over `width` new tokens, written to the cache at slot `start` on: an int (the
        cache is a view ending at the last new slot), or a tensor of slots (a static-shape cache that
        a CUDA graph replays, models.static_kv_decoder)."""
        rows, width, d_model = hidden.shape
        normed = self.norm1(hidden)
        if self.qkv_proj is not None:
            q, k, v = self.qkv_proj(normed).split(d_model, dim=-1)
        else:
            q, k, v = self.q_proj(normed), self.k_proj(normed), self.v_proj(normed)
        q = (q * self.scaling).view(rows, width, heads, head_dim).transpose(1, 2)
        k = k.view(rows, width, heads, head_dim).transpose(1, 2)
        v = v.view(rows, width, heads, head_dim).transpose(1, 2)
        if isinstance(start, int):
            keys[:, :, start:] = k
            values[:, :, start:] = v
        else:
            keys.index_copy_(2, start, k)
            values.index_copy_(2, start, v)
        attended = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=1.0)
        hidden = hidden + self.out_proj(attended.transpose(1, 2).reshape(rows, width, d_model))

        q = (self.cross_q(self.norm2(hidden)) * self.cross_scaling).view(rows, width, heads, head_dim).transpose(1, 2)
        attended = F.scaled_dot_product_attention(q, self.cross_k, self.cross_v, scale=1.0)
        hidden = hidden + self.cross_out(attended.transpose(1, 2).reshape(rows, width, d_model))

        return hidden + self.fc2(self.activation(self.fc1(self.norm3(hidden))))

