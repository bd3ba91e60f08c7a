"""Samplers as plain functions (after k-diffusion): a schedule, a denoiser and timesteps in, a tensor out.

A denoiser is a function (x, t) -> (eps, x0), the noise and clean estimates at level t; `denoiser(schedule,
output_fn)` makes one from a network call. `guided_output(prior, cond, has_cond, scale)` builds the
classifier-free-guided network call out(x, t) = out_uncond + scale * (out_cond - out_uncond); scale 0 is the
unconditional model, scale 1 the conditional one. Guidance terms (the keypoint term of refinement) wrap a
denoiser and return another, so sampling, inversion and refinement share these loops.
"""

from __future__ import annotations

from typing import Callable

import torch

from affordhand.prior.model import Prior
from affordhand.prior.schedule import Schedule

Denoiser = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def denoiser(schedule: Schedule, output_fn: Callable) -> Denoiser:
    """Return the denoiser (x, t) -> (eps, x0) of a network call output_fn(x, t), x0 clipped by the schedule.

    The network runs without autograd: guidance terms differentiate their own cost, never the network."""

    @torch.no_grad()
    def denoise(x, t):
        return schedule.split(x, t, output_fn(x, t))

    return denoise


def guided_output(
    prior: Prior, cond: torch.Tensor | None, has_cond: torch.Tensor | None, scale: float, repeats: int = 1
):
    """Return a function (x, t) -> network output with classifier-free guidance at `scale`; each row of
    cond (and has_cond) serves `repeats` consecutive rows of x."""

    embedded: dict = {}  # the condition's embedding, computed on the first call: it is the same at every step

    def embed(key, c, h):
        if key not in embedded:
            with torch.no_grad():
                embedded[key] = prior.net.embed_condition(c, h)
        return embedded[key]

    def fn(x, t):
        if cond is None or cond.shape[-1] == 0 or scale == 0:
            return prior.output(x, t, None, None)
        if scale == 1:  # out_u + 1 * (out_c - out_u) is the conditional output: one pass, not two
            return prior.output(x, t, cond, has_cond, repeats, embed("c", cond, has_cond))
        B = x.shape[0]
        both_cond, both_has = torch.cat([cond, cond]), torch.cat([has_cond, torch.zeros_like(has_cond)])
        both = prior.output(
            torch.cat([x, x]), torch.cat([t, t]), both_cond, both_has, repeats, embed("cu", both_cond, both_has)
        )
        out_c, out_u = both[:B], both[B:]
        guided = out_u + scale * (out_c - out_u)
        return torch.where(has_cond.repeat_interleave(repeats, 0)[:, None], guided, out_u)

    return fn


def sample_ddim(
    schedule: Schedule,
    denoise: Denoiser,
    x: torch.Tensor,
    timesteps: list[int],
    eta: float = 0.0,
    callback: Callable | None = None,
    generator: torch.Generator | None = None,
    t_end: int = -1,
) -> torch.Tensor:
    """Return x at t_end (default -1: the clean sample x0) after DDIM steps over descending timesteps from x
    (B, D) at timesteps[0].

    callback({"i", "t", "t_next", "x", "x0"}) runs after each step; a tensor it returns replaces x (RePaint-
    style inpainting holds known coordinates this way). The loop runs without autograd unless the denoiser
    enables it for its own term."""
    for i, t in enumerate(timesteps):
        t_next = timesteps[i + 1] if i + 1 < len(timesteps) else t_end
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        eps, x0 = denoise(x, tt)
        with torch.no_grad():
            noise = torch.randn(x.shape, generator=generator).to(x.device) if eta > 0 else None
            x = schedule.ddim_step(x, tt, torch.full_like(tt, t_next), eps, x0, eta, noise)
        if callback is not None:
            replaced = callback({"i": i, "t": t, "t_next": t_next, "x": x, "x0": x0})
            x = x if replaced is None else replaced
    return x


@torch.no_grad()
def sample_ddpm(
    schedule: Schedule,
    denoise: Denoiser,
    x: torch.Tensor,
    t_start: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Return x0 after ancestral DDPM sampling from x at t_start (default T - 1) down to 0, every step."""
    for t in range(schedule.T - 1 if t_start is None else t_start, -1, -1):
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        _, x0 = denoise(x, tt)
        x = schedule.ddpm_step(x, tt, x0, torch.randn(x.shape, generator=generator).to(x.device))
    return x


@torch.no_grad()
def ddim_invert(schedule: Schedule, denoise: Denoiser, x0: torch.Tensor, timesteps: list[int]) -> torch.Tensor:
    """Return x at timesteps[-1] from clean x0 by deterministic DDIM inversion over ascending timesteps.

    Each step evaluates the denoiser at the current, less noisy level (the clean input counts as t = 0)."""
    x, prev = x0, 0
    for t in timesteps:
        t_eval = torch.full((x.shape[0],), prev, dtype=torch.long, device=x.device)
        eps, x0_hat = denoise(x, t_eval)
        x = schedule.ddim_invert_step(x, t_eval, torch.full_like(t_eval, t), eps, x0_hat)
        prev = t
    return x
