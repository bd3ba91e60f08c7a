"""`affordhand sample`: draw hand poses from a prior for a sentence."""

from __future__ import annotations

import math

from affordhand.commands.common import PRIOR_HELP, add_device_arg, add_hand_model_args, hand_model
from affordhand.errors import AffordhandError

MAX_SAMPLES = 100_000  # poses per call; they are drawn SAMPLE_CHUNK at a time, so memory stays bounded


def register(sub) -> None:
    p = sub.add_parser("sample", help="draw hand poses from a prior for a sentence")
    p.add_argument("--prior", default="default", help=PRIOR_HELP)
    p.add_argument("--text", default=None, help='affordance sentence, "A right hand ..." (omit: unconditional)')
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--guidance", type=float, default=3.0, help="classifier-free guidance scale")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--sampler", choices=("ddim", "ddpm"), default="ddim")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output records (JSONL)")
    p.add_argument("--figure", help="also save the samples as 3D hands (PNG)")
    add_device_arg(p)
    add_hand_model_args(p)
    p.set_defaults(func=run)


def _figure(args, hand, poses) -> None:
    import torch

    from affordhand.report.figures import skeleton_grid

    with torch.no_grad():
        joints = hand(torch.zeros(len(poses), 3), poses).joints.double().numpy()
    skeleton_grid(list(joints), [f"sample {i}" for i in range(len(joints))], args.figure, columns=8, view=(25, 60))
    print(f"wrote {args.figure}")


def run(args) -> int:
    from affordhand.data.descriptions import check_sentence
    from affordhand.data.provenance import provenance, write_settings
    from affordhand.data.records import write_records
    from affordhand.hand.convention import prior_convention
    from affordhand.prior.generate import sample_poses
    from affordhand.prior.model import load_prior, prior_digest

    if not 1 <= args.n <= MAX_SAMPLES:
        raise AffordhandError(f"--n must be between 1 and {MAX_SAMPLES}, got {args.n}")
    if args.text is not None:
        check_sentence(args.text, "--text")  # "" too: omit --text for unconditional samples
    if not math.isfinite(args.guidance) or args.guidance < 0:
        raise AffordhandError(f"--guidance must be a finite number of at least 0, got {args.guidance}")
    prior = load_prior(args.prior, args.device)
    if not 1 <= args.steps <= prior.config.T:
        raise AffordhandError(f"--steps must be between 1 and {prior.config.T} (the prior's T), got {args.steps}")
    texts = [args.text] * args.n
    poses = sample_poses(prior, texts, args.guidance, args.steps, args.sampler, args.seed)
    hand = hand_model(args, args.prior)
    convention = prior_convention(hand, prior)  # written, and drawn, in the chosen hand model's pose convention
    poses = convention.from_prior(poses) if convention is not None else poses
    records = [
        {"id": f"sample{i:04d}", "side": "right", "hand_pose": p.numpy(), "global_orient": [0.0] * 3, "text": args.text}
        for i, p in enumerate(poses)
    ]
    write_records(args.out, records)
    settings = {k: getattr(args, k) for k in ("text", "n", "guidance", "steps", "sampler", "seed")}
    write_settings(args.out, provenance("sample", settings, {"prior": prior_digest(args.prior)}))
    print(f"wrote {len(records)} samples to {args.out}")
    if args.figure:
        _figure(args, hand, poses)
    return 0
