"""Drawing hand poses from a prior for a sentence: text in, right-hand poses out."""

from __future__ import annotations

import torch

from affordhand.data.taxonomy import grasp_in_text
from affordhand.errors import AffordhandError
from affordhand.prior.conditions import condition_vectors
from affordhand.prior.model import Prior
from affordhand.prior.sampling import denoiser, guided_output, sample_ddim, sample_ddpm
from affordhand.text.encoders import load_text_encoder

SAMPLE_CHUNK = 4096  # poses denoised at once: bounds memory whatever the number asked for


class _NoText:
    """Stands for the text encoder where no sentence needs encoding (it is not loaded then)."""

    def __init__(self, dim: int):
        self.dim = dim


def encode_conditions(
    prior: Prior, texts: list[str | None], grasps: list | None = None
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Return (cond (B, C) or None, has_cond (B,)) for each hand's sentence and Feix grasp, with the prior's
    own text encoder (loaded only when there is a sentence to encode). grasps=None: the grasp each
    sentence names."""
    if prior.config.cond_dim == 0:
        return None, torch.zeros(len(texts), dtype=torch.bool)
    if grasps is None:
        grasps = [grasp_in_text(t) if t else None for t in texts]
    encoder = _NoText(prior.config.text_dim)
    if "text" in prior.config.layout and any(texts):
        encoder = load_text_encoder(prior.config.text_encoder)
        if encoder.dim != prior.config.text_dim:
            raise AffordhandError(
                f"text encoder {encoder.name} gives {encoder.dim}-D embeddings, the prior expects "
                f"{prior.config.text_dim}"
            )
    return condition_vectors(prior.config.conditions, encoder, texts, grasps)


@torch.no_grad()
def sample_poses(
    prior: Prior,
    texts: list[str | None],
    guidance: float = 3.0,
    steps: int = 50,
    sampler: str = "ddim",
    seed: int = 0,
    cond=None,
    has_cond=None,
) -> torch.Tensor:
    """Return right-hand hand_pose (B, 45) sampled for each text (None = unconditional), SAMPLE_CHUNK at a
    time (the starting noise is drawn for all at once, so DDIM's samples do not depend on the chunking)."""
    if sampler not in ("ddim", "ddpm"):
        raise AffordhandError(f"unknown sampler {sampler!r}: ddim or ddpm")
    if cond is None:
        cond, has_cond = encode_conditions(prior, texts)
    device = next(prior.parameters()).device
    g = torch.Generator().manual_seed(seed)  # noise drawn on the CPU: the same samples on every device
    noise = torch.randn(len(texts), prior.config.pose_dim, generator=g)
    out = []
    for i in range(0, len(texts), SAMPLE_CHUNK):
        part = slice(i, i + SAMPLE_CHUNK)
        c = cond[part].to(device) if cond is not None else None
        h = has_cond[part].to(device) if has_cond is not None else None
        denoise = denoiser(prior.schedule, guided_output(prior, c, h, guidance))
        x = noise[part].to(device)
        if sampler == "ddim":
            x0 = sample_ddim(prior.schedule, denoise, x, prior.schedule.timesteps(steps))
        else:
            x0 = sample_ddpm(prior.schedule, denoise, x, generator=g)
        out.append(prior.decode_pose(x0).cpu())
    return torch.cat(out)
