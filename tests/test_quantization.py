"""`--precision int8`: the decoder's per-token layers in int8, the audio side untouched; the lean and
generic decoders still agree with each other, and stay close to fp32."""

from __future__ import annotations

import copy

import pytest
import torch

from models.decoding.decoder import Decoder, DecodeRequest, SamplingSettings
from models.quantization import quantize_decoder


@pytest.fixture(scope="module")
def quantized(random_tiny_model):
    model, _, _ = random_tiny_model
    return quantize_decoder(copy.deepcopy(model))


def _kind(module) -> str:
    return type(module).__module__


def test_only_the_per_token_layers_are_quantised(random_tiny_model, quantized):
    model, _, samples = random_tiny_model
    layer = quantized.transformer.model.decoder.layers[0]
    for linear in (layer.self_attn.q_proj, layer.self_attn.qkv_proj, layer.encoder_attn.q_proj, layer.fc1,
                   quantized.transformer.proj_out):
        assert "quantized" in _kind(linear)
    # once per window: the cross-attention keys/values and the whole encoder stay fp32
    assert isinstance(layer.encoder_attn.k_proj, torch.nn.Linear) and "quantized" not in _kind(layer.encoder_attn.k_proj)
    frames = torch.randn(2, samples, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        assert torch.equal(quantized.encode(frames), model.encode(frames))


def test_logits_stay_close_to_fp32(random_tiny_model, quantized):
    model, _, samples = random_tiny_model
    frames = torch.randn(1, samples, generator=torch.Generator().manual_seed(4))
    ids = torch.randint(3, model.config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        states = model.encode(frames)
        exact, _ = model.decode(ids, states, use_cache=False)
        rounded, _ = quantized.decode(ids, states, use_cache=False)
    error = (rounded - exact).abs().max()
    assert 0 < error < 0.1 * exact.std()  # rounded, by little (random weights: 7 % of the spread here)


@pytest.mark.parametrize("cfg_scale", [1.0, 3.0])
def test_lean_and_generic_paths_give_the_same_tokens(random_tiny_model, quantized, cfg_scale):
    """The lean decoder's fused q/k/v product rounds row by row as the three separate ones do."""
    _, _, samples = random_tiny_model
    generator = torch.Generator().manual_seed(6)
    requests = [DecodeRequest(torch.randint(3, quantized.config.vocab_size, (n,), generator=generator).tolist(),
                              frozenset({2}), negative_prompt=[5, 6, 7]) for n in (8, 13)]
    frames = torch.randn(2, samples, generator=torch.Generator().manual_seed(7))
    greedy = SamplingSettings(greedy=True)
    lean = Decoder(quantized, sampling=greedy, cfg_scale=cfg_scale).run(frames, requests, 20)
    generic = Decoder(quantized, sampling=greedy, cfg_scale=cfg_scale, generic_cache=True).run(frames, requests, 20)
    assert [r.tokens for r in lean] == [r.tokens for r in generic]
    assert all(len(r.tokens) > 0 for r in lean)


def test_load_model_quantises_on_the_cpu_only(tmp_path):
    from models.loading import load_model
    from tests.conftest import require_shared
    from tokenization.errors import MapperInputError

    folder = require_shared("fixtures", "ref-v29-tiny")
    model = load_model(folder, precision="int8")
    assert model.decoder_int8 and "quantized" in _kind(model.transformer.proj_out)
    with pytest.raises(MapperInputError, match="CPU only"):
        load_model(folder, "cuda", precision="int8")
