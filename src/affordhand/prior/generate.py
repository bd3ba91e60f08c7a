"""Drawing hand poses from a prior for a sentence: text in, right-hand poses out."""

from __future__ import annotations

import torch

from affordhand.errors import AffordhandError
from affordhand.prior.model import Prior
from affordhand.prior.sampling import guided_output, sample_ddim, sample_ddpm
from affordhand.text.encoders import load_text_encoder


def encode_texts(prior: Prior, texts: list[str | None]) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Return (cond (B, C) or None, has_cond (B,)) for texts with the prior's own text encoder."""
    has = torch.as_tensor([bool(t) for t in texts])
    if prior.config.cond_dim == 0:
        return None, torch.zeros(len(texts), dtype=torch.bool)
    encoder = load_text_encoder(prior.config.text_encoder)
    if encoder.dim != prior.config.cond_dim:
        raise AffordhandError(f"text encoder {encoder.name} gives {encoder.dim}-D embeddings, the prior expects "
                              f"{prior.config.cond_dim}")
    cond = torch.zeros(len(texts), encoder.dim)
    idx = [i for i, t in enumerate(texts) if t]
    if idx:
        cond[idx] = encoder.encode([texts[i] for i in idx])
    return cond, has


@torch.no_grad()
def sample_poses(prior: Prior, texts: list[str | None], guidance: float = 3.0, steps: int = 50,
                 sampler: str = "ddim", seed: int = 0, cond=None, has_cond=None) -> torch.Tensor:
    """Return right-hand hand_pose (B, 45) sampled for each text (None = unconditional)."""
    if cond is None:
        cond, has_cond = encode_texts(prior, texts)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(texts), prior.config.pose_dim, generator=g)
    fn = guided_output(prior, cond, has_cond, guidance)
    if sampler == "ddim":
        x0 = sample_ddim(prior, fn, x, prior.schedule.timesteps(steps))
    elif sampler == "ddpm":
        x0 = sample_ddpm(prior, fn, x, generator=g)
    else:
        raise AffordhandError(f"unknown sampler {sampler!r}: ddim or ddpm")
    return prior.decode_pose(x0)
