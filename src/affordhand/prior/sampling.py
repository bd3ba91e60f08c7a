"""Samplers as plain functions: a denoise function and timesteps in, a tensor out.

`guided_output(prior, cond, has_cond, scale)` builds the classifier-free-guided network call
out(x, t) = out_uncond + scale * (out_cond - out_uncond); scale 0 is the unconditional model,
scale 1 the conditional one.
"""

from __future__ import annotations

from typing import Callable

import torch

from affordhand.prior.model import Prior


def guided_output(prior: Prior, cond: torch.Tensor | None, has_cond: torch.Tensor | None, scale: float):
    """Return a function (x, t) -> network output with classifier-free guidance at `scale`."""

    def fn(x, t):
        if cond is None or cond.shape[-1] == 0 or scale == 0:
            return prior.output(x, t, None, None)
        if scale == 1:  # out_u + 1 * (out_c - out_u) is the conditional output: one pass, not two
            return prior.output(x, t, cond, has_cond)
        B = x.shape[0]
        both = prior.output(
            torch.cat([x, x]),
            torch.cat([t, t]),
            torch.cat([cond, cond]),
            torch.cat([has_cond, torch.zeros_like(has_cond)]),
        )
        out_c, out_u = both[:B], both[B:]
        guided = out_u + scale * (out_c - out_u)
        return torch.where(has_cond[:, None], guided, out_u)

    return fn


@torch.no_grad()
def sample_ddim(
    prior: Prior,
    output_fn: Callable,
    x: torch.Tensor,
    timesteps: list[int],
    eta: float = 0.0,
    callback: Callable | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Return x0 after DDIM steps over descending timesteps from x (B, D) at timesteps[0]."""
    sched = prior.schedule
    for i, t in enumerate(timesteps):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        eps, x0 = sched.split(x, tt, output_fn(x, tt))
        noise = torch.randn(x.shape, generator=generator).to(x.device) if eta > 0 else None
        x = sched.ddim_step(x, tt, torch.full_like(tt, t_prev), eps, x0, eta, noise)
        if callback is not None:
            callback({"i": i, "t": t, "x": x, "x0": x0})
    return x


@torch.no_grad()
def sample_ddpm(
    prior: Prior,
    output_fn: Callable,
    x: torch.Tensor,
    t_start: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Return x0 after ancestral DDPM sampling from x at t_start (default T - 1) down to 0, every step."""
    sched = prior.schedule
    for t in range(sched.T - 1 if t_start is None else t_start, -1, -1):
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        _, x0 = sched.split(x, tt, output_fn(x, tt))
        x = sched.ddpm_step(x, tt, x0, torch.randn(x.shape, generator=generator).to(x.device))
    return x


@torch.no_grad()
def ddim_invert(prior: Prior, output_fn: Callable, x0: torch.Tensor, timesteps: list[int]) -> torch.Tensor:
    """Return x at timesteps[-1] from clean x0 by deterministic DDIM inversion over ascending timesteps.

    Each step evaluates the network at the current, less noisy level (the clean input counts as t = 0)."""
    sched = prior.schedule
    x, prev = x0, 0
    for t in timesteps:
        t_eval = torch.full((x.shape[0],), prev, dtype=torch.long, device=x.device)
        eps, x0_hat = sched.split(x, t_eval, output_fn(x, t_eval))
        x = sched.ddim_invert_step(x, t_eval, torch.full_like(t_eval, t), eps, x0_hat)
        prev = t
    return x
