"""The lean KV-cache decoder gives what the transformers Whisper decoder gives, and amp precision
keeps the encoder close to fp32 while returning fp32 states."""

from __future__ import annotations

import pytest
import torch

from models.decoding.batch import DecodeRequest, SamplingSettings
from models.decoding.decoder import Decoder


def _prompts(vocab_size: int, lengths: list[int], seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(3, vocab_size, (n,), generator=generator).tolist() for n in lengths]


def _steps_agree(model, lean, states, expected, past, mask, positions, steps: int) -> None:
    """Feed both decoders the transformers path's greedy token `steps` times; logits must agree."""
    token = expected[:, -1].argmax(-1)[:, None]
    for _ in range(steps):
        positions = positions[:, -1:] + 1
        mask = torch.cat([mask, torch.ones_like(token)], dim=1)
        expected, past = model.decode(token, states, attention_mask=mask, past_key_values=past, position_ids=positions)
        assert torch.allclose(lean.step(token, positions), expected[:, -1], atol=1e-5)
        token = expected[:, -1].argmax(-1)[:, None]


def test_logits_equal_the_transformers_decoder_with_left_padding(random_tiny_model):
    model, _, samples = random_tiny_model
    with torch.inference_mode():
        states = model.encode(torch.randn(2, samples))
        ids = torch.randint(3, model.config.vocab_size, (2, 12))
        mask = torch.ones_like(ids)
        mask[1, :5] = 0  # the second row's prompt is 5 tokens shorter, left-padded
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        expected, past = model.decode(ids, states, attention_mask=mask, position_ids=positions)
        lean = model.incremental_decoder(states, capacity=20)
        assert torch.allclose(lean.prefill(ids, mask, positions), expected[:, -1], atol=1e-5)
        _steps_agree(model, lean, states, expected, past, mask, positions, steps=6)


def test_the_cache_grows_past_its_first_allocation(random_tiny_model):
    model, _, samples = random_tiny_model
    with torch.inference_mode():
        states = model.encode(torch.randn(1, samples, generator=torch.Generator().manual_seed(6)))
        ids = torch.randint(3, model.config.vocab_size, (1, 250), generator=torch.Generator().manual_seed(7))
        mask, positions = torch.ones_like(ids), torch.arange(250)[None]
        expected, past = model.decode(ids, states, attention_mask=mask, position_ids=positions)
        lean = model.incremental_decoder(states, capacity=600)
        lean.prefill(ids, mask, positions)
        first = lean.keys.shape[3]
        _steps_agree(model, lean, states, expected, past, mask, positions, steps=12)  # past the first 256 slots
    assert first == 256 and lean.keys.shape[3] == 512


@pytest.mark.parametrize("cfg_scale", [1.0, 3.0])
def test_greedy_tokens_equal_the_generic_path(random_tiny_model, cfg_scale):
    model, _, samples = random_tiny_model
    prompts = _prompts(model.config.vocab_size, [9, 14, 11], seed=2)
    negatives = _prompts(model.config.vocab_size, [7, 7, 13], seed=3)
    requests = [DecodeRequest(p, frozenset({2}), negative_prompt=n) for p, n in zip(prompts, negatives)]
    frames = torch.randn(3, samples, generator=torch.Generator().manual_seed(4))
    greedy = SamplingSettings(greedy=True)
    lean = Decoder(model, sampling=greedy, cfg_scale=cfg_scale).run(frames, requests, 24)
    generic = Decoder(model, sampling=greedy, cfg_scale=cfg_scale, generic_cache=True).run(frames, requests, 24)
    assert [r.tokens for r in lean] == [r.tokens for r in generic]
    assert all(len(r.tokens) > 0 for r in lean)


def test_amp_keeps_the_encoder_close_and_fp32(random_tiny_model):
    model, _, samples = random_tiny_model
    frames = torch.randn(2, samples, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        exact = model.encode(frames)
        model.encoder_autocast = True
        try:
            mixed = model.encode(frames)
            lean = model.incremental_decoder(mixed, capacity=8)
        finally:
            model.encoder_autocast = False
    assert mixed.dtype == torch.float32 and lean.layers[0].cross_k.dtype == torch.float32
    assert not torch.equal(mixed, exact)  # bf16 really ran
    assert float((mixed - exact).norm() / exact.norm()) < 3e-2


def test_load_model_refuses_an_unknown_precision(tmp_path):
    from models.loading import load_model
    from tokenization.errors import MapperInputError

    with pytest.raises(MapperInputError, match="precision"):
        load_model(tmp_path, precision="fp8")
