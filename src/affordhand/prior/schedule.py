"""The diffusion process over a noise schedule (no network inside): q_sample, x0/eps conversions,
DDPM and DDIM steps, DDIM inversion, and the sub-sequences of timesteps that few-step samplers use.

Shapes: x (B, D) in normalised pose units; t (B,) long timesteps in [0, T).
"""

from __future__ import annotations

import math

import torch


def linear_betas(T: int) -> torch.Tensor:
    """Return DDPM's linear betas (Ho et al. 2020), rescaled so that any T spans the same noise range."""
    scale = 1000.0 / T
    return torch.linspace(scale * 1e-4, scale * 0.02, T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008) -> torch.Tensor:
    """Return the cosine schedule's betas (Nichol & Dhariwal 2021), clipped at 0.999."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    alpha_bar = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)


class Schedule:
    """A DDPM noise schedule held as arrays; `prediction` is 'eps' or 'x0' (what the network outputs)."""

    def __init__(
        self,
        T: int = 1000,
        kind: str = "cosine",
        prediction: str = "eps",
        clip_x0: float = 4.0,
        bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        if kind not in ("linear", "cosine"):
            raise ValueError(f"unknown schedule {kind!r}")
        if prediction not in ("eps", "x0"):
            raise ValueError(f"unknown prediction {prediction!r}")
        self.T, self.kind, self.prediction, self.clip_x0 = T, kind, prediction, clip_x0
        self.bounds = bounds  # per-dimension (low, high) of the data: x0-hat is clipped to it when given
        self.betas = linear_betas(T) if kind == "linear" else cosine_betas(T)
        self.alpha_bar = torch.cumprod(1 - self.betas, 0)

    def _ab(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Return alpha_bar at t (B,) shaped to broadcast with like (B, D); t = -1 means alpha_bar = 1."""
        ab = torch.where(
            t >= 0,
            self.alpha_bar.to(like.device)[t.clamp_min(0)],
            torch.ones((), dtype=torch.float64, device=like.device),
        )
        return ab.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Return x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) noise."""
        ab = self._ab(t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def split(self, x_t: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (eps, x0) from a network output; x0 is clipped to +-clip_x0 and eps made consistent.

        Clipping x0-hat keeps few-step samplers from exploding near t = T (seen with cosine + eps)."""
        if self.prediction == "eps":
            return self.from_eps(x_t, t, output)
        return self.from_x0(x_t, t, output)

    def x0_from_eps(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Return the unclipped clean estimate x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab)."""
        ab = self._ab(t, x_t)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    def clip(self, x0: torch.Tensor) -> torch.Tensor:
        """Return x0 clipped to the data range (or +-clip_x0)."""
        if self.bounds is not None:
            return torch.maximum(torch.minimum(x0, self.bounds[1].to(x0)), self.bounds[0].to(x0))
        if self.clip_x0:
            return x0.clamp(-self.clip_x0, self.clip_x0)
        return x0

    def from_eps(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (eps, x0) for a noise estimate: x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab), clipped."""
        return self.from_x0(x_t, t, self.x0_from_eps(x_t, t, eps))

    def from_x0(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (eps, x0) for a clean estimate, x0 clipped to the data range (or +-clip_x0) and eps
        consistent with it."""
        ab = self._ab(t, x_t)
        x0 = self.clip(x0)
        eps = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt().clamp_min(1e-8)
        return eps, x0

    def target(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Return what the network learns to output (noise for eps-prediction, x0 otherwise)."""
        return noise if self.prediction == "eps" else x0

    def ddim_step(self, x_t, t, t_prev, eps, x0, eta: float = 0.0, noise=None):
        """Return x at t_prev (t_prev = -1: the clean sample) from x_t and the (eps, x0) estimates."""
        ab, ab_prev = self._ab(t, x_t), self._ab(t_prev, x_t)
        sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).clamp_min(0).sqrt()
        x = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp_min(0).sqrt() * eps
        if eta > 0:
            x = x + sigma * (noise if noise is not None else torch.randn_like(x_t))
        return x

    def ddpm_step(self, x_t, t, x0, noise=None):
        """Return a DDPM ancestral sample at t - 1 from the posterior q(x_{t-1} | x_t, x0)."""
        ab = self._ab(t, x_t)
        ab_prev = self._ab(t - 1, x_t)
        beta = self.betas.to(x_t.device)[t].to(x_t.dtype).reshape_as(ab)
        mean = (ab_prev.sqrt() * beta / (1 - ab)) * x0 + ((1 - beta).sqrt() * (1 - ab_prev) / (1 - ab)) * x_t
        var = beta * (1 - ab_prev) / (1 - ab)
        z = noise if noise is not None else torch.randn_like(x_t)
        return mean + (t > 0).to(x_t.dtype).reshape_as(ab) * var.sqrt() * z

    def ddim_invert_step(self, x_t, t, t_next, eps, x0):
        """Return x at the noisier t_next from x_t (t = -1: clean) with the deterministic DDIM map."""
        ab_next = self._ab(t_next, x_t)
        return ab_next.sqrt() * x0 + (1 - ab_next).sqrt() * eps

    def timesteps(self, steps: int, t_start: int | None = None) -> list[int]:
        """Return `steps` descending timesteps from t_start (default T - 1) down to 0, evenly spaced."""
        top = self.T - 1 if t_start is None else int(t_start)
        steps = max(1, min(steps, top + 1))
        return sorted({round(top * (1 - i / max(steps - 1, 1))) for i in range(steps)}, reverse=True)
