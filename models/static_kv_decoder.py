"""The lean Whisper decoder with static shapes, so that its per-token step can be replayed as a CUDA
graph (models.cuda_graph_step).

One window at a time on a GPU is bound by kernel launches, not by the GPU: 12 small layers are a few
hundred kernels a token (~6 ms on an H200 for a 213 M-parameter model). A CUDA graph launches them
all at once, but it replays fixed memory addresses and shapes, so here:

- the cache holds `capacity` slots from the start (no growth) and every step attends over all of
  them, the unwritten ones masked out and zeroed (a mask adds -inf, which does not clear a NaN);
- the step reads its token, position and slot from buffers (the slot a one-element tensor that the
  step itself advances), never from Python numbers;
- the buffers (cache, cross-attention keys/values, inputs) belong to a `StaticCache` that the model
  keeps per shape, so one captured graph serves every window of that shape.

The prefill (many tokens, once per window) stays eager. In eager mode the step runs on any device
and gives the dynamic decoder's tokens (tests/test_static_decoder.py); the graph is CUDA only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.whisper_kv_decoder import WhisperKVDecoder, additive_mask

# Capacities are rounded up to a multiple of this many tokens so that windows whose prompts differ in
# length share one cache and one captured graph (a generation window asks for the model's whole
# target length anyway).
CAPACITY_STEP_TOKENS = 256
# Shapes kept per model (rows, capacity, audio positions); each holds its cache, ~150 MB per row at
# full v29 size and 2048 slots, and its graph.
CACHES_KEPT = 4


@dataclass
class StaticCache:
    """Every tensor a step reads or writes, at fixed addresses."""

    keys: torch.Tensor  # [layers, rows, heads, capacity, head_dim]
    values: torch.Tensor
    key_mask: torch.Tensor  # [rows, 1, 1, capacity] bool: slots written
    cross_keys: torch.Tensor  # [layers, rows, heads, audio positions, head_dim]
    cross_values: torch.Tensor
    input_ids: torch.Tensor  # [rows, 1]
    position_ids: torch.Tensor  # [rows, 1]
    slot: torch.Tensor  # [1]: where the next token goes
    graph: object | None = None  # the captured step (models.cuda_graph_step.GraphedStep), once made

    @classmethod
    def empty(cls, layers: int, rows: int, heads: int, capacity: int, positions: int, head_dim: int,
              like: torch.Tensor) -> StaticCache:
        keys = like.new_empty((layers, rows, heads, capacity, head_dim))
        cross = like.new_empty((layers, rows, heads, positions, head_dim))
        ids = torch.zeros((rows, 1), dtype=torch.long, device=like.device)
        return cls(keys, torch.empty_like(keys), torch.zeros((rows, 1, 1, capacity), dtype=torch.bool, device=like.device),
                   cross, torch.empty_like(cross), ids, torch.zeros_like(ids),
                   torch.zeros(1, dtype=torch.long, device=like.device))


class StaticKVDecoder(WhisperKVDecoder):
    """`prefill` once (eager), then `step` per token through fixed buffers; `graphed` replays the step
    as a CUDA graph."""

    def __init__(self, model: nn.Module, encoder_states: torch.Tensor, capacity: int, graphed: bool = False):
        super().__init__(model, encoder_states, capacity)
        rows, positions = encoder_states.shape[0], self.layers[0].cross_k.shape[2]
        capacity = -(-capacity // CAPACITY_STEP_TOKENS) * CAPACITY_STEP_TOKENS
        self.cache = _cache_for(model, (rows, capacity, positions, encoder_states.device, self.layers[0].cross_k.dtype),
                                lambda: StaticCache.empty(len(self.layers), rows, self.heads, capacity, positions,
                                                          self.head_dim, self.layers[0].cross_k))
        self.capacity = capacity
        cache = self.cache
        for index, layer in enumerate(self.layers):  # the window's audio, into the buffers a graph reads
            cache.cross_keys[index].copy_(layer.cross_k)
            cache.cross_values[index].copy_(layer.cross_v)
            layer.cross_k, layer.cross_v = cache.cross_keys[index], cache.cross_values[index]
        # Every step attends over all `capacity` slots, the unwritten ones masked with -inf. Masking
        # does not exclude them from the arithmetic: a NaN key gives NaN + -inf = NaN scores, and a NaN
        # value gives 0 x NaN = NaN outputs. Fresh memory, or a slot a past window overflowed, may
        # hold anything, so every slot starts at zero (one pass over the cache, less than one step's
        # reads) and the last window's slots are not this one's.
        cache.keys.zero_()
        cache.values.zero_()
        cache.key_mask.zero_()
        self.keys, self.values, self.key_mask = cache.keys, cache.values, cache.key_mask
        self.graphed = graphed

    def _reserve(self, length: int) -> None:
        if length > self.capacity:
            raise ValueError(f"the static cache holds {self.capacity} tokens, not {length}")

    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        logits = super().prefill(input_ids, attention_mask, position_ids)
        self.cache.slot.fill_(self.length)
        return logits

    def step(self, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        self._reserve(self.length + 1)
        cache = self.cache
        cache.input_ids.copy_(input_ids)
        cache.position_ids.copy_(position_ids)
        if not self.graphed:
            logits = self.static_step()
        else:
            if cache.graph is None:
                from models.cuda_graph_step import GraphedStep

                cache.graph = GraphedStep(self.static_step, cache.slot)
            logits = cache.graph()
        self.length += 1
        # a copy: the graph's output buffer is overwritten by the next step, and rules edit scores
        return logits.clone()

    def static_step(self) -> torch.Tensor:
        """One token for every row, read from and written to the cache's buffers only: no Python
        number that changes between steps, so a CUDA graph can replay it."""
        cache = self.cache
        cache.key_mask.index_fill_(3, cache.slot, True)
        mask = additive_mask(cache.key_mask, cache.keys.dtype)
        hidden = self.embed(cache.input_ids) + self.positions[cache.position_ids]
        for index, layer in enumerate(self.layers):
            hidden = layer(hidden, cache.keys[index], cache.values[index], cache.slot, mask, self.heads, self.head_dim)
        cache.slot.add_(1)
        return self.proj_out(self.final_norm(hidden))[:, -1]

    def reorder(self, rows: torch.Tensor) -> None:
        """Beam search: row i continues row rows[i], copied within the same buffers."""
        cache = self.cache
        cache.keys.copy_(cache.keys[:, rows])
        cache.values.copy_(cache.values[:, rows])
        cache.key_mask.copy_(cache.key_mask[rows])


def _cache_for(model: nn.Module, shape: tuple, make) -> StaticCache:
    """The model's cache for this shape, made on first use; the oldest shape is dropped past
    CACHES_KEPT. Only one decoder uses a model's cache at a time (decoding is sequential)."""
    caches = model.__dict__.setdefault("_static_caches", {})
    if shape not in caches:
        while len(caches) >= CACHES_KEPT:
            caches.pop(next(iter(caches)))
        caches[shape] = make()
    return caches[shape]
