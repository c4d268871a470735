"""The decoding loop: prompts in, new tokens out, for a batch of rows at once.

One call decodes a batch of rows that share their rules (the windows of one step of a pass,
super-timing passes, or one window with its classifier-free-guidance twin). The encoder runs once;
the decoder runs incrementally on a KV cache. Prompts of different lengths are left-padded.
Each row has its own end set (the window's end tokens), so rows finish independently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import LogitsProcessor, TopKLogitsWarper, TopPLogitsWarper

from models.decoding.batch import EOS_TOKEN, DecodeRequest, DecodeResult, SamplingSettings
from models.decoding.beam_search import beam_search
from models.decoding.rules import ClassifierFreeGuidance
from profiles.limits import guidance_on


@dataclass
class Decoder:
    """Runs a model's incremental decoder over a batch.

    `model` must provide `encode(frames, **conditioning) -> encoder_states` and
    `decode(input_ids, encoder_states, attention_mask=..., past_key_values=..., position_ids=...)
    -> (logits, past_key_values)`, as `models.modeling_mapperatorinator` does.
    """

    model: object
    pad_id: int = 0
    rules: list[LogitsProcessor] = field(default_factory=list)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    cfg_scale: float = 1.0
    # Decode through the model's generic `decode` and transformers' cache objects instead of its
    # lean incremental decoder: the reference path the lean one is checked and measured against.
    generic_cache: bool = False
    _generator: torch.Generator | None = None

    def __post_init__(self):
        self._warpers: list[LogitsProcessor] = []
        if not self.sampling.greedy:
            if self.sampling.top_k > 0:
                self._warpers.append(TopKLogitsWarper(self.sampling.top_k))
            if 0 < self.sampling.top_p < 1:
                self._warpers.append(TopPLogitsWarper(self.sampling.top_p))
        if self.sampling.seed is not None:
            self._generator = torch.Generator().manual_seed(self.sampling.seed)

    @torch.inference_mode()
    def run(self, frames: torch.Tensor, requests: list[DecodeRequest], max_new_tokens: int,
            conditioning: dict[str, torch.Tensor] | None = None,
            encoder_states: torch.Tensor | None = None) -> list[DecodeResult]:
        """Decode every row; `frames` holds one audio window per request ([rows, samples]).
        `encoder_states` (from `model.encode` of those frames) skips encoding them again."""
        guided = guidance_on(self.cfg_scale) and any(r.negative_prompt is not None for r in requests)
        prompts = [r.prompt for r in requests]
        if encoder_states is None:
            encoder_states = self.model.encode(frames, **(conditioning or {}))
        if guided:  # conditional rows first, then their unconditional twins (same audio)
            prompts = prompts + [r.negative_prompt or r.prompt for r in requests]
            encoder_states = torch.cat([encoder_states, encoder_states])
        rows = len(requests)
        device = frames.device
        if self.sampling.num_beams > 1:
            base = encoder_states[:rows]
            return beam_search(self, base, requests, max_new_tokens, num_beams=self.sampling.num_beams,
                               guided=guided, end_mask=_end_mask(requests, self._vocab_size(), device),
                               prompts_of=lambda p: _left_pad(p, self.pad_id, device),
                               incremental_for=self._incremental)
        input_ids, attention_mask = _left_pad(prompts, self.pad_id, device)
        rules = ([ClassifierFreeGuidance(self.cfg_scale)] if guided else []) + list(self.rules)
        end_mask = _end_mask(requests, self._vocab_size(), device)

        sequence = input_ids
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        incremental = self._incremental(encoder_states, input_ids.shape[1] + max_new_tokens)
        logits = incremental.prefill(input_ids, attention_mask, position_ids)
        finished = torch.zeros(rows, dtype=torch.bool, device=device)
        new_tokens: list[torch.Tensor] = []
        for _ in range(max_new_tokens):
            scores = logits.float()
            for rule in rules:
                scores = rule(sequence, scores)
            chosen = self._choose(sequence[:rows], scores[:rows])
            chosen = torch.where(finished, torch.full_like(chosen, self.pad_id), chosen)
            new_tokens.append(chosen)
            finished |= end_mask[torch.arange(rows, device=device), chosen]
            if bool(finished.all()):
                break
            step = torch.cat([chosen, chosen]) if guided else chosen
            sequence = torch.cat([sequence, step[:, None]], dim=1)
            position_ids = position_ids[:, -1:] + 1
            logits = incremental.step(step[:, None], position_ids)
        return _results(new_tokens, requests, end_mask)

    def _choose(self, sequence: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        # A row the rules left with no finite choice (or NaN from a broken model) ends its window.
        scores = torch.nan_to_num(scores, nan=float("-inf"), posinf=float("-inf"))
        dead = torch.isinf(scores).all(-1)
        if bool(dead.any()):
            scores[dead, EOS_TOKEN] = 0.0
        if self.sampling.greedy:
            return scores.argmax(-1)
        for warper in self._warpers:
            scores = warper(sequence, scores)
        probs = torch.softmax(scores, dim=-1)
        return torch.multinomial(probs.cpu(), 1, generator=self._generator).squeeze(1).to(scores.device)

    def _incremental(self, encoder_states: torch.Tensor, capacity: int):
        if self.generic_cache:
            return CachedDecode(self.model, encoder_states)
        return _incremental(self.model, encoder_states, capacity)

    def _vocab_size(self) -> int:
        return int(self.model.config.vocab_size)


def _incremental(model, encoder_states: torch.Tensor, capacity: int):
    """The model's own incremental decoder when it has one, else its `decode` with a KV cache."""
    if hasattr(model, "incremental_decoder"):
        found = model.incremental_decoder(encoder_states, capacity)
        if found is not None:
            return found
    return CachedDecode(model, encoder_states)


def _take_rows(cache, rows: torch.Tensor):
    if isinstance(cache, torch.Tensor):
        return cache[rows]
    if isinstance(cache, (list, tuple)):
        return type(cache)(_take_rows(part, rows) for part in cache)
    return cache


class CachedDecode:
    """`prefill`/`step` over a model's `decode(ids, states, attention_mask=, past_key_values=, position_ids=)`."""

    def __init__(self, model, encoder_states: torch.Tensor):
        self.model, self.encoder_states = model, encoder_states
        self.attention_mask = self.past = None

    def prefill(self, input_ids, attention_mask, position_ids) -> torch.Tensor:
        self.attention_mask = attention_mask
        logits, self.past = self.model.decode(input_ids, self.encoder_states, attention_mask=attention_mask,
                                              past_key_values=None, position_ids=position_ids)
        return logits[:, -1]

    def reorder(self, rows: torch.Tensor) -> None:
        """Row i continues what row rows[i] held (beam search)."""
        self.attention_mask = self.attention_mask[rows]
        if hasattr(self.past, "reorder_cache"):  # transformers' cache objects
            self.past.reorder_cache(rows)
        else:
            self.past = _take_rows(self.past, rows)

    def step(self, input_ids, position_ids) -> torch.Tensor:
        self.attention_mask = torch.cat([self.attention_mask, torch.ones_like(input_ids)], dim=1)
        logits, self.past = self.model.decode(input_ids, self.encoder_states, attention_mask=self.attention_mask,
                                              past_key_values=self.past, position_ids=position_ids)
        return logits[:, -1]


def _left_pad(prompts: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt):] = 1
    return ids.to(device), mask.to(device)


def _end_mask(requests: list[DecodeRequest], vocab_size: int, device) -> torch.Tensor:
    mask = torch.zeros((len(requests), vocab_size), dtype=torch.bool)
    for row, request in enumerate(requests):
        ids = [i for i in request.end_ids if 0 <= i < vocab_size]
        mask[row, ids] = True
    return mask.to(device)


def _results(new_tokens: list[torch.Tensor], requests: list[DecodeRequest], end_mask: torch.Tensor) -> list[DecodeResult]:
    if not new_tokens:
        return [DecodeResult([], False) for _ in requests]
    table = torch.stack(new_tokens, dim=1).cpu()
    results = []
    for row in range(len(requests)):
        tokens: list[int] = []
        ended = False
        for token in table[row].tolist():
            tokens.append(token)
            if end_mask[row, token]:
                ended = True
                break
        results.append(DecodeResult(tokens, ended))
    return results
