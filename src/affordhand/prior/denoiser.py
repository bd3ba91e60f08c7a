"""The denoiser network: a residual MLP over the 15 joint rotations, with FiLM from timestep and text.

Input x: (B, D) normalised pose (D = 45 axis-angle or 90 for 6D), t: (B,) long, cond: (B, C) text
embedding, has_cond: (B,) bool. Where has_cond is false a learned null embedding replaces the text
(classifier-free guidance trains this branch by dropping the condition). Output: (B, D).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Return sinusoidal embeddings (B, dim) of timesteps (B,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class _Block(nn.Module):
    def __init__(self, width: int, emb: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.film = nn.Linear(emb, 2 * width)
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h, e):
        scale, shift = self.film(e).chunk(2, dim=-1)
        y = self.norm(h) * (1 + scale) + shift
        return h + self.fc2(self.drop(torch.nn.functional.silu(self.fc1(y))))


class Denoiser(nn.Module):
    """Residual MLP with FiLM conditioning; sizes from the prior's config."""

    def __init__(
        self,
        pose_dim: int = 45,
        cond_dim: int = 384,
        width: int = 256,
        depth: int = 4,
        emb: int = 256,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.pose_dim, self.cond_dim, self.emb = pose_dim, cond_dim, emb
        self.inp = nn.Linear(pose_dim, width)
        self.t_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.c_mlp = nn.Sequential(nn.Linear(cond_dim, emb), nn.SiLU(), nn.Linear(emb, emb)) if cond_dim else None
        self.null = nn.Parameter(torch.zeros(emb))
        self.blocks = nn.ModuleList([_Block(width, emb, dropout) for _ in range(depth)])
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, pose_dim))

    def forward(self, x, t, cond=None, has_cond=None):
        e = self.t_mlp(timestep_embedding(t, self.emb))
        null = self.null.expand(x.shape[0], -1)
        if cond is not None and self.c_mlp is not None:
            c = self.c_mlp(cond)
            keep = has_cond if has_cond is not None else torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
            c = torch.where(keep[:, None], c, null)
        else:
            c = null
        e = torch.nn.functional.silu(e + c)
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, e)
        return self.out(h)


class JointTransformer(nn.Module):
    """A small transformer over 15 joint tokens plus one token for timestep and text (the alternative
    to the MLP; the README gives the measurement that chose between them). Same call as Denoiser."""

    def __init__(
        self,
        pose_dim: int = 45,
        cond_dim: int = 384,
        width: int = 128,
        depth: int = 4,
        emb: int = 256,
        dropout: float = 0.0,
        heads: int = 4,
    ):
        super().__init__()
        self.pose_dim, self.cond_dim, self.emb = pose_dim, cond_dim, emb
        self.per_joint = pose_dim // 15
        self.inp = nn.Linear(self.per_joint, width)
        self.joint_embedding = nn.Parameter(torch.randn(15, width) * 0.02)
        self.t_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, width))
        self.c_mlp = nn.Sequential(nn.Linear(cond_dim, emb), nn.SiLU(), nn.Linear(emb, width)) if cond_dim else None
        self.null = nn.Parameter(torch.zeros(width))
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, self.per_joint))

    def forward(self, x, t, cond=None, has_cond=None):
        B = x.shape[0]
        null = self.null.expand(B, -1)
        if cond is not None and self.c_mlp is not None:
            keep = has_cond if has_cond is not None else torch.ones(B, dtype=torch.bool, device=x.device)
            c = torch.where(keep[:, None], self.c_mlp(cond), null)
        else:
            c = null
        token = (self.t_mlp(timestep_embedding(t, self.emb)) + c).unsqueeze(1)
        joints = self.inp(x.reshape(B, 15, self.per_joint)) + self.joint_embedding
        h = self.encoder(torch.cat([token, joints], dim=1))
        return self.out(h[:, 1:]).reshape(B, self.pose_dim)
