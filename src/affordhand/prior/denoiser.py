"""The denoiser network: a residual MLP over the 15 joint rotations, with FiLM from timestep and text.

Input x: (B, D) normalised pose (D = 45 axis-angle or 90 for 6D), t: (B,) long, cond: (B / repeats, C)
condition vector, has_cond: (B / repeats,) bool: each condition row serves `repeats` consecutive rows of x (the
K samples of a hand; with repeats > 1 the rows of a group must share their timestep too, as every sampler's
do). Where has_cond is false a learned null embedding replaces the condition (classifier-
free guidance trains this branch by dropping it). Output: (B, D).

Only the pose path runs per row: the timestep's embedding is computed once per distinct timestep and the
condition's (with the FiLM scales and shifts it makes) once per condition row. In refinement that is 4
samples per hand and one timestep per step, so this part, 60 % of the MLP's arithmetic, is done once per
hand instead of once per sample.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _rows(values: torch.Tensor, repeats: int, n: int) -> torch.Tensor:
    """Return per-row values (n, ...) from one row per group of `repeats` rows (or one row for all)."""
    if values.shape[0] == n:
        return values
    if values.shape[0] == 1:
        return values.expand(n, *values.shape[1:])
    return values.repeat_interleave(repeats, 0)


def embed_timesteps(mlp: nn.Module, t: torch.Tensor, dim: int) -> torch.Tensor:
    """Return mlp(sinusoidal embedding of t) (B, ...), or (1, ...) when every row has the same timestep."""
    if t.numel() > 1 and bool((t == t[0]).all()):
        t = t[:1]
    return mlp(timestep_embedding(t, dim))


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Return sinusoidal embeddings (B, dim) of timesteps (B,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _embed_condition(net: nn.Module, cond, has_cond) -> torch.Tensor:
    """Return a network's condition embedding (G, E) for cond (G, C), the null embedding where has_cond is
    false, or the null embedding alone (1, E) when there is no condition."""
    if cond is None or net.c_mlp is None:
        return net.null[None]
    keep = has_cond if has_cond is not None else torch.ones(cond.shape[0], dtype=torch.bool, device=cond.device)
    return torch.where(keep[:, None], net.c_mlp(cond), net.null.expand(cond.shape[0], -1))


class _Block(nn.Module):
    def __init__(self, width: int, emb: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.film = nn.Linear(emb, 2 * width)
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h, e, repeats: int = 1):
        scale, shift = _rows(self.film(e), repeats, h.shape[0]).chunk(2, dim=-1)
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

    def embed_condition(self, cond, has_cond) -> torch.Tensor:
        """Return the condition's embedding (G, emb) (or (1, emb) for none): what `forward` takes as
        `embedded` when the same condition serves many calls (the steps of a sampler)."""
        return _embed_condition(self, cond, has_cond)

    def forward(self, x, t, cond=None, has_cond=None, repeats: int = 1, embedded=None):
        c = self.embed_condition(cond, has_cond) if embedded is None else embedded
        e = embed_timesteps(self.t_mlp, t[::repeats] if repeats > 1 else t, self.emb)
        e = torch.nn.functional.silu(e + c)  # (groups or 1, emb): one per hand, or one for all
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, e, repeats)
        return self.out(h)


class JointTransformer(nn.Module):
    """A small transformer over 15 joint tokens plus one token for timestep and text (the alternative
    to the MLP: benchmarks/denoiser.py compares them). Same call as Denoiser."""

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

    def embed_condition(self, cond, has_cond) -> torch.Tensor:
        """Return the condition's embedding (G, width) (or (1, width) for none), as Denoiser's."""
        return _embed_condition(self, cond, has_cond)

    def forward(self, x, t, cond=None, has_cond=None, repeats: int = 1, embedded=None):
        B = x.shape[0]
        c = _rows(self.embed_condition(cond, has_cond) if embedded is None else embedded, repeats, B)
        token = (self.t_mlp(timestep_embedding(t, self.emb)) + c).unsqueeze(1)
        joints = self.inp(x.reshape(B, 15, self.per_joint)) + self.joint_embedding
        h = self.encoder(torch.cat([token, joints], dim=1))
        return self.out(h[:, 1:]).reshape(B, self.pose_dim)
