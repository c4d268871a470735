"""Optimizers and the learning-rate schedule a profile names (training.md §3.3-3.4)."""

from __future__ import annotations

import math

import torch

NO_DECAY_MARKERS = ("bias", "LayerNorm", "layer_norm", "ln")
MUON_MAX_ROWS = 10_000  # larger first dimensions (embeddings, output heads) stay with Adam


class AdamWScale(torch.optim.Optimizer):
    """Adam whose step is scaled by the parameter's RMS (at least 1e-3), so the learning rate is
    relative to each weight's size, as Adafactor does; decoupled weight decay."""

    def __init__(self, params, lr: float = 1e-2, betas=(0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                bias1 = 1 - beta1 ** state["step"]
                bias2 = 1 - beta2 ** state["step"]
                scale = max(1e-3, float(p.pow(2).mean().sqrt()))
                denom = (state["exp_avg_sq"] / bias2).sqrt_().add_(group["eps"])
                p.addcdiv_(state["exp_avg"] / bias1, denom, value=-group["lr"] * scale)
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
        return loss


def parameter_groups(named, weight_decay: float) -> list[dict]:
    decay, plain = [], []
    for name, p in named:
        (plain if any(m in name for m in NO_DECAY_MARKERS) else decay).append(p)
    return [g for g in ({"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0})
            if g["params"]]


def build_optimizers(model: torch.nn.Module, training, lr: float | None = None) -> list[torch.optim.Optimizer]:
    """One optimizer, or Muon for the 2-D hidden weights plus AdamW for the rest."""
    lr = training.learning_rate if lr is None else lr
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if training.optimizer == "adamw":
        return [torch.optim.AdamW(parameter_groups(named, training.weight_decay), lr=lr)]
    if training.optimizer == "adamwscale":
        return [AdamWScale(parameter_groups(named, training.weight_decay), lr=lr)]
    muon = [p for n, p in named if p.ndim == 2 and "embed" not in n and "proj_out" not in n
            and p.shape[0] < MUON_MAX_ROWS]
    muon_ids = {id(p) for p in muon}
    rest = [(n, p) for n, p in named if id(p) not in muon_ids]
    optimizers = [torch.optim.AdamW(parameter_groups(rest, training.weight_decay), lr=lr, betas=(0.9, 0.95))]
    if muon:
        optimizers.insert(0, torch.optim.Muon(muon, lr=lr, weight_decay=0.0, adjust_lr_fn="match_rms_adamw"))
    return optimizers


def lr_factor(step: int, training, max_steps: int, base_lr: float) -> float:
    """Multiplier of the base learning rate at optimizer step `step` (0-based)."""
    warm, sustain = training.warmup_steps, training.sustain_steps
    if step < warm:
        return 0.5 + 0.5 * step / warm
    if step < warm + sustain or training.schedule == "constant":
        return 1.0
    final = training.final_learning_rate / base_lr if base_lr else 0.0
    span = max(1, max_steps - warm - sustain)
    progress = min(1.0, (step - warm - sustain) / span)
    if training.schedule == "linear":
        return 1.0 + (final - 1.0) * progress
    return final + (1.0 - final) * 0.5 * (1 + math.cos(math.pi * progress))


def build_schedulers(optimizers, training, max_steps: int, base_lr: float):
    return [torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, training, max_steps, base_lr))
            for opt in optimizers]
