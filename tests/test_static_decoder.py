"""The static-shape decoder (what a CUDA graph replays) gives the dynamic lean decoder's logits and
tokens; in eager mode on the CPU here, and replayed as a graph where a CUDA GPU is present."""

from __future__ import annotations

import copy

import pytest
import torch

from models.decoding.decoder import Decoder, DecodeRequest, SamplingSettings
from models.static_kv_decoder import CAPACITY_STEP_TOKENS, StaticKVDecoder


class _StaticModel:
    """The model, its lean decoder swapped for the static one (as on a CUDA device, but eager)."""

    def __init__(self, model, graphed: bool = False):
        self.model, self.config, self.graphed = model, model.config, graphed

    def encode(self, frames, **conditioning):
        return self.model.encode(frames, **conditioning)

    def incremental_decoder(self, states, capacity):
        return StaticKVDecoder(self.model, states, capacity, graphed=self.graphed)


def _requests(vocab_size: int, seed: int) -> list[DecodeRequest]:
    generator = torch.Generator().manual_seed(seed)
    prompt = lambda n: torch.randint(3, vocab_size, (n,), generator=generator).tolist()  # noqa: E731
    return [DecodeRequest(prompt(n), frozenset({2}), negative_prompt=prompt(n - 2)) for n in (9, 15, 12)]


@pytest.fixture
def nan_filled_allocations(monkeypatch):
    """Fresh float buffers hold NaN, as uninitialised memory may: a cache read before it is written,
    or a masked slot multiplied by zero rather than excluded, then shows up as NaN every time instead
    of depending on what the allocator hands out (it failed in one clone's run and passed in CI)."""
    def nan(allocate):
        def allocate_nan(*args, **kwargs):
            tensor = allocate(*args, **kwargs)
            return tensor.fill_(float("nan")) if tensor.is_floating_point() else tensor
        return allocate_nan

    monkeypatch.setattr(torch, "empty", nan(torch.empty))
    monkeypatch.setattr(torch, "empty_like", nan(torch.empty_like))
    monkeypatch.setattr(torch.Tensor, "new_empty", nan(torch.Tensor.new_empty))


def test_steps_equal_the_dynamic_decoder_and_the_cache_serves_the_next_window(random_tiny_model,
                                                                              nan_filled_allocations):
    model, _, samples = random_tiny_model
    model = copy.deepcopy(model)  # the static caches stay with this copy
    with torch.inference_mode():
        for seed in (1, 2):  # the second window reuses the first one's buffers
            states = model.encode(torch.randn(2, samples, generator=torch.Generator().manual_seed(seed)))
            ids = torch.randint(3, model.config.vocab_size, (2, 10), generator=torch.Generator().manual_seed(seed))
            mask = torch.ones_like(ids)
            mask[0, :4] = 0  # left padding
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            dynamic = model.incremental_decoder(states, 30)
            static = StaticKVDecoder(model, states, 30)
            assert torch.allclose(static.prefill(ids, mask, positions), dynamic.prefill(ids, mask, positions), atol=1e-5)
            for _ in range(8):
                positions = positions[:, -1:] + 1
                token = torch.randint(3, model.config.vocab_size, (2, 1))
                assert torch.allclose(static.step(token, positions), dynamic.step(token, positions), atol=1e-5)
            assert int(static.cache.slot) == 18 and static.capacity == CAPACITY_STEP_TOKENS
    assert len(model.__dict__["_static_caches"]) == 1


@pytest.mark.parametrize("cfg_scale,beams", [(1.0, 1), (3.0, 1), (1.0, 3)])
def test_greedy_tokens_equal_the_dynamic_decoder(random_tiny_model, nan_filled_allocations, cfg_scale, beams):
    model, _, samples = random_tiny_model
    requests = _requests(model.config.vocab_size, seed=5)
    frames = torch.randn(3, samples, generator=torch.Generator().manual_seed(6))
    settings = SamplingSettings(greedy=True, num_beams=beams)
    dynamic = Decoder(model, sampling=settings, cfg_scale=cfg_scale).run(frames, requests, 20)
    static = Decoder(_StaticModel(copy.deepcopy(model)), sampling=settings, cfg_scale=cfg_scale).run(frames, requests, 20)
    assert [r.tokens for r in static] == [r.tokens for r in dynamic]
    assert all(len(r.tokens) > 0 for r in static)


def test_a_full_cache_is_an_error_not_a_silent_overwrite(random_tiny_model):
    model, _, samples = random_tiny_model
    with torch.inference_mode():
        states = model.encode(torch.randn(1, samples))
        static = StaticKVDecoder(copy.deepcopy(model), states, 1)
        ids = torch.arange(3, 3 + CAPACITY_STEP_TOKENS)[None]
        static.prefill(ids, torch.ones_like(ids), torch.arange(CAPACITY_STEP_TOKENS)[None])
        with pytest.raises(ValueError, match="holds 256 tokens"):
            static.step(ids[:, :1], torch.tensor([[CAPACITY_STEP_TOKENS]]))


def test_graph_capture_refuses_cpu_tensors():
    from models.cuda_graph_step import GraphedStep

    with pytest.raises(ValueError, match="CUDA tensors"):
        GraphedStep(lambda: torch.zeros(1), torch.zeros(1, dtype=torch.long))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_replay_gives_the_eager_tokens(random_tiny_model):
    model, _, samples = random_tiny_model
    model = copy.deepcopy(model).cuda()
    requests = _requests(model.config.vocab_size, seed=7)
    frames = torch.randn(3, samples, generator=torch.Generator().manual_seed(8)).cuda()
    greedy = SamplingSettings(greedy=True)
    model.cuda_graphs = False
    eager = Decoder(model, sampling=greedy, cfg_scale=3.0).run(frames, requests, 24)
    model.cuda_graphs = True
    for _ in range(2):  # the second run replays the graph the first captured
        graphed = Decoder(model, sampling=greedy, cfg_scale=3.0).run(frames, requests, 24)
        assert [r.tokens for r in graphed] == [r.tokens for r in eager]
    assert any(cache.graph is not None for cache in model.__dict__["_static_caches"].values())
