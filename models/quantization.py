"""`--precision int8`: the decoder's per-token matrix products in int8, for the CPU.

One decoding step reads every decoder weight once (about 400 MB in fp32 at the full v29 size), and
on a CPU that memory traffic, not arithmetic, is what a step costs. Dynamic quantisation stores
each of those weights as int8 with one scale per output channel (a quarter of the bytes) and
quantises the activations on the fly, row by row, through fbgemm's AVX2 kernels (torch's
`quantize_dynamic`). The price is rounding: logits move by about 1e-2, so a near tie between two
tokens can go the other way; bench/generate.py states how many tokens still equal fp32's.

What stays fp32: the audio encoder and the cross-attention keys/values (computed once per window,
not per token, so they cost little and keep the audio side exact), embeddings, layer norms and
attention itself. CPU only: the quantised kernels have no CUDA implementation.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

# Computed once per window from the encoder's states, not per token: quantising them saves nothing.
PER_WINDOW_PROJECTIONS = ("encoder_attn.k_proj", "encoder_attn.v_proj")


def quantize_decoder(model: nn.Module) -> nn.Module:
    """`model` with its decoder's per-token Linear layers (and the output projection) in dynamic
    int8, changed in place; the Whisper self-attention also gets one fused q/k/v projection."""
    names = {name for name, module in model.named_modules() if _per_token_linear(name, module)}
    if not names:
        return model
    _fuse_self_attention(model)
    names |= {name for name, module in model.named_modules() if name.endswith("self_attn.qkv_proj")}
    with warnings.catch_warnings():
        # torch.ao announces its move to torchao; its dynamic int8 Linear is still the fbgemm path
        # that runs fastest on AVX2 CPUs (torchao is not a dependency).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        # one scale per output channel: a fused q/k/v row gets the scale its own projection would
        quantize_dynamic(model, dict.fromkeys(names, per_channel_dynamic_qconfig), dtype=torch.qint8, inplace=True)
    model.decoder_int8 = True
    return model


def _per_token_linear(name: str, module: nn.Module) -> bool:
    if not isinstance(module, nn.Linear):
        return False
    in_decoder = ".decoder." in f".{name}" or name.endswith("proj_out")
    return in_decoder and not name.endswith(PER_WINDOW_PROJECTIONS)


def _fuse_self_attention(model: nn.Module) -> None:
    """One [3 d, d] projection beside each Whisper self-attention's q, k and v: one quantised
    product per step instead of three (each also quantises its input). The separate projections stay
    for the generic decoding path; the lean decoder (models.whisper_kv_decoder) uses the fused one."""
    for name, module in model.named_modules():
        if not (name.endswith("self_attn") and ".decoder." in f".{name}"):
            continue
        parts = [getattr(module, p, None) for p in ("q_proj", "k_proj", "v_proj")]
        if not all(isinstance(p, nn.Linear) for p in parts):
            continue
        weight = torch.cat([p.weight for p in parts])
        fused = nn.Linear(weight.shape[1], weight.shape[0], bias=True, device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            fused.weight.copy_(weight)
            # Whisper's k_proj has no bias: its third is zero
            fused.bias.copy_(torch.cat([p.bias if p.bias is not None else torch.zeros_like(p.weight[:, 0])
                                        for p in parts]))
        module.qkv_proj = fused
