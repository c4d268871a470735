"""Gaussian diffusion over positions: the squared-cosine schedule, respacing to the steps kept
for sampling, the hybrid training loss (noise MSE plus the variational bound that trains the
learned variance), and one reverse step.

The published model was trained only on the lowest-noise steps (t < 100 of 1000): at t = 99
the noise is about 43 px, the size of the token model's 32 px grid error, so sampling starts
from the coarse positions themselves, treated as x_t, instead of from pure noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

SCHEDULE_STEPS = 1000
MAX_BETA = 0.999
X0_CLAMP = 2.0  # predictions of x0 beyond twice the playfield are nonsense


def cosine_alphas_cumprod(steps: int = SCHEDULE_STEPS) -> np.ndarray:
    """ᾱ(t) for t = 0..steps-1 of the squared-cosine schedule, with each beta capped at MAX_BETA."""
    f = lambda t: math.cos((t / steps + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    betas = np.array([min(1 - f(i + 1) / f(i), MAX_BETA) for i in range(steps)], dtype=np.float64)
    return np.cumprod(1.0 - betas)


@dataclass
class Diffusion:
    """A schedule over `timesteps` (original step numbers, increasing); index i of every array is
    the i-th kept step. The model is always told the original step number."""

    timesteps: np.ndarray
    alphas_cumprod: np.ndarray

    @classmethod
    def create(cls, kept: list[int] | None = None, steps: int = SCHEDULE_STEPS) -> Diffusion:
        full = cosine_alphas_cumprod(steps)
        kept_steps = np.array(sorted(kept) if kept is not None else range(steps), dtype=np.int64)
        return cls(kept_steps, full[kept_steps])

    @classmethod
    def lowest(cls, count: int, steps: int = SCHEDULE_STEPS) -> Diffusion:
        """The `count` least noisy steps (t = 0..count-1), as the published model was trained."""
        return cls.create(list(range(count)), steps)

    def __post_init__(self):
        a = self.alphas_cumprod
        self.alphas_cumprod_prev = np.append(1.0, a[:-1])
        self.betas = 1.0 - a / self.alphas_cumprod_prev
        self.posterior_variance = self.betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - a)
        # the first step's posterior variance is 0; its log uses the next one (as is standard)
        var = self.posterior_variance
        self.posterior_log_variance = np.log(np.append(var[1], var[1:]) if len(var) > 1 else np.maximum(var, 1e-20))
        self.posterior_mean_coef1 = self.betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - a)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(1.0 - self.betas) / (1.0 - a)

    def __len__(self) -> int:
        return len(self.timesteps)

    def noise_std(self, index: int) -> float:
        """Noise standard deviation of step `index`, in normalised units (1 = half the playfield)."""
        return float(math.sqrt(1.0 - self.alphas_cumprod[index]))

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _at(array: np.ndarray, index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        values = torch.as_tensor(array, dtype=torch.float32, device=like.device)[index]
        return values.view(-1, *([1] * (like.dim() - 1)))

    def model_steps(self, index: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.timesteps, device=index.device)[index]

    def q_sample(self, x0: torch.Tensor, index: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        a = self._at(self.alphas_cumprod, index, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def posterior(self, x0: torch.Tensor, xt: torch.Tensor, index: torch.Tensor):
        mean = self._at(self.posterior_mean_coef1, index, xt) * x0 + self._at(self.posterior_mean_coef2, index, xt) * xt
        return mean, self._at(self.posterior_log_variance, index, xt)

    def predict(self, output: torch.Tensor, xt: torch.Tensor, index: torch.Tensor, channels: int = 2):
        """Model output -> (predicted x0, reverse-step mean, reverse-step log variance)."""
        eps, interp = output[..., :channels], output[..., channels:]
        a = self._at(self.alphas_cumprod, index, xt)
        x0 = ((xt - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-X0_CLAMP, X0_CLAMP)
        min_log = self._at(self.posterior_log_variance, index, xt)
        max_log = self._at(np.log(np.maximum(self.betas, 1e-20)), index, xt)
        fraction = (interp + 1) / 2  # the model's [-1, 1] maps between the two variance bounds
        log_variance = fraction * max_log + (1 - fraction) * min_log
        return x0, log_variance

    # -- training -------------------------------------------------------------------------------
    def loss(self, model_output: torch.Tensor, x0: torch.Tensor, xt: torch.Tensor, index: torch.Tensor,
             noise: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Hybrid loss per sequence: noise MSE + the variational bound (with the mean detached, so
        the bound only trains the variance). `weight` [B, T] masks padding."""
        channels = x0.shape[-1]
        eps = model_output[..., :channels]
        mse = ((eps - noise) ** 2).mean(-1)
        frozen = torch.cat([eps.detach(), model_output[..., channels:]], dim=-1)
        pred_x0, log_var = self.predict(frozen, xt, index, channels)
        a = self._at(self.alphas_cumprod, index, xt)
        pred_x0 = (xt - (1 - a).sqrt() * eps.detach()) / a.sqrt()  # unclamped for the bound
        true_mean, true_log_var = self.posterior(x0, xt, index)
        model_mean, _ = self.posterior(pred_x0, xt, index)
        kl = 0.5 * (-1.0 + log_var - true_log_var + torch.exp(true_log_var - log_var)
                    + (true_mean - model_mean) ** 2 * torch.exp(-log_var))
        nll = 0.5 * (log_var + math.log(2 * math.pi) + (x0 - model_mean) ** 2 * torch.exp(-log_var))
        first = (index == 0).view(-1, *([1] * (x0.dim() - 1)))
        vb = torch.where(first, nll, kl).mean(-1) / math.log(2.0)
        per_point = mse + vb
        return (per_point * weight).sum(-1) / weight.sum(-1).clamp(min=1)

    # -- sampling ---------------------------------------------------------------------------------
    def reverse_step(self, output: torch.Tensor, xt: torch.Tensor, index: int,
                     x0_hook: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     generator: torch.Generator | None = None, eta: float | None = None) -> torch.Tensor:
        """x_t -> x_{t-1}; `x0_hook` may correct the predicted clean positions first (slider lengths).

        eta None: ancestral sampling with the learned variance (the published sampler). A number:
        DDIM, moving along the predicted noise with `eta` times the ancestral noise (0: none)."""
        step = torch.full((xt.shape[0],), index, dtype=torch.long, device=xt.device)
        x0, log_var = self.predict(output, xt, step, xt.shape[-1])
        if x0_hook is not None:
            x0 = x0_hook(x0)
        if eta is not None:
            return self._ddim_step(x0, xt, index, eta, generator)
        mean, _ = self.posterior(x0, xt, step)
        if index == 0:
            return mean
        noise = torch.randn(xt.shape, generator=generator, device=xt.device, dtype=xt.dtype)
        return mean + torch.exp(0.5 * log_var) * noise

    def _ddim_step(self, x0, xt, index: int, eta: float, generator) -> torch.Tensor:
        a, a_prev = float(self.alphas_cumprod[index]), float(self.alphas_cumprod_prev[index])
        eps = (xt - math.sqrt(a) * x0) / math.sqrt(1 - a)
        sigma = eta * math.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))
        out = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma ** 2, 0.0)) * eps
        if sigma > 0 and index > 0:
            out = out + sigma * torch.randn(xt.shape, generator=generator, device=xt.device, dtype=xt.dtype)
        return out
