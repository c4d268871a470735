"""Beam search: it finds the better-scored ending greedy decoding misses, follows the KV cache
correctly through reordering, and needs no change to the models."""

from __future__ import annotations

import math

import torch

from models.decoding.batch import DecodeRequest, SamplingSettings
from models.decoding.decoder import Decoder

EOS = 2


class TwoPathModel:
    """After the prompt: token 3 (p 0.6) or 4 (p 0.4). After 3 the end is unlikely (0.3); after 4 it
    is nearly certain (0.99). Greedy takes 3; a beam of two finds [4, end], the likelier sequence."""

    class config:  # noqa: N801 - stands in for a model config
        vocab_size = 5

    def encode(self, frames, **_):
        return torch.zeros(frames.shape[0], 1, 1)

    def decode(self, ids, states, attention_mask=None, past_key_values=None, position_ids=None):
        probs = {3: [0.01, 0.01, 0.30, 0.34, 0.34], 4: [0.0025, 0.0025, 0.99, 0.0025, 0.0025]}
        rows = []
        for last in ids[:, -1].tolist():
            rows.append(probs.get(last, [0.0, 0.0, 0.0, 0.6, 0.4]))
        logits = torch.tensor(rows).clamp(min=1e-9).log()[:, None, :].expand(-1, ids.shape[1], -1)
        past = ids if past_key_values is None else torch.cat([past_key_values, ids], dim=1)
        return logits, past


def test_beams_find_the_likelier_ending_that_greedy_misses():
    model, frames = TwoPathModel(), torch.zeros(1, 10)
    request = [DecodeRequest([1, 1], frozenset({EOS}))]
    greedy = Decoder(model, sampling=SamplingSettings(greedy=True)).run(frames, request, 6)[0]
    beams = Decoder(model, sampling=SamplingSettings(greedy=True, num_beams=2)).run(frames, request, 6)[0]
    assert greedy.tokens[0] == 3
    assert beams.tokens == [4, EOS] and beams.ended
    assert math.log(0.4) + math.log(0.99) > math.log(0.6) + math.log(0.3)


def test_beams_through_the_lean_cache_equal_the_transformers_cache(random_tiny_model):
    model, _, samples = random_tiny_model
    generator = torch.Generator().manual_seed(8)
    prompts = [torch.randint(3, model.config.vocab_size, (n,), generator=generator).tolist() for n in (9, 13)]
    requests = [DecodeRequest(p, frozenset({2, 5, 7}), negative_prompt=p[:5]) for p in prompts]
    frames = torch.randn(2, samples, generator=generator)
    for cfg in (1.0, 2.5):
        settings = SamplingSettings(greedy=True, num_beams=3)
        lean = Decoder(model, sampling=settings, cfg_scale=cfg).run(frames, requests, 20)
        generic = Decoder(model, sampling=settings, cfg_scale=cfg, generic_cache=True).run(frames, requests, 20)
        assert [r.tokens for r in lean] == [r.tokens for r in generic]
        assert all(r.tokens for r in lean)
