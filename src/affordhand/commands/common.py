"""Flags and helpers that several commands share: the hand model, the device, the VLM server, strict JSON."""

from __future__ import annotations

import argparse
import sys

DEVICE_HELP = "auto (CUDA, then MPS, then CPU; default), cpu, cuda, cuda:N or mps"
PRIOR_HELP = "run folder, 'default' (shipped) or hf:ORG/NAME[@REV] (Hugging Face Hub)"


def add_device_arg(p: argparse.ArgumentParser, what: str = "") -> None:
    p.add_argument("--device", default="auto", help=what + DEVICE_HELP)


def add_hand_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hand-model",
        choices=("builtin", "mano"),
        default="builtin",
        help="hand model that turns poses into joints (default: builtin, license-free)",
    )
    p.add_argument("--mano-dir", help="folder with your MANO_RIGHT.pkl / MANO_LEFT.pkl (or $AFFORDHAND_MANO_DIR)")
    p.add_argument("--skeleton", help="calibrated skeleton of the built-in hand (from `affordhand calibrate`)")


def add_camera_flags(p: argparse.ArgumentParser) -> None:
    """Add --focal and --intrinsics (the photo front end's camera; see photo_options)."""
    p.add_argument("--focal", type=float, help="focal length in pixels (default: 60-degree field of view)")
    p.add_argument("--intrinsics", help="fx,fy,cx,cy in pixels of a calibrated camera (overrides --focal)")


def add_detection_flags(p: argparse.ArgumentParser, what: str, one: str, proportions: str) -> None:
    """Add --samples, --mirrored, --max-disagreement and --builtin-proportions of the photo front end: `what`
    names the input ("the photos"), `one` one image of it ("the photo"), `proportions` the help of
    --builtin-proportions."""
    from affordhand.photo.options import ImageOptions

    p.add_argument("--samples", type=int, default=ImageOptions.samples)
    p.add_argument("--mirrored", action="store_true", help=f"{what} mirrored (selfie camera)")
    p.add_argument(
        "--max-disagreement",
        type=float,
        default=ImageOptions.max_disagreement,
        help=f"joints MediaPipe places this far apart (fraction of the hand's size) in {one} and "
        "its mirror image are taken as occluded; 1 turns the mirror pass off",
    )
    p.add_argument("--builtin-proportions", action="store_true", help=proportions)


def photo_options(args, **fields):
    """Return the ImageOptions of the flags add_camera_flags, add_detection_flags, --seed and --device give,
    with the other fields as given."""
    from affordhand.photo.options import ImageOptions
    from affordhand.photo.pipeline import parse_numbers

    return ImageOptions(
        focal=args.focal,
        intrinsics=parse_numbers(args.intrinsics, 4, "--intrinsics"),
        samples=args.samples,
        seed=args.seed,
        mirrored=args.mirrored,
        max_disagreement=args.max_disagreement,
        own_skeleton=not args.builtin_proportions,
        device=args.device,
        **fields,
    )


def hand_model(args, prior_spec=None):
    """Return the hand model the flags name; the built-in hand takes --skeleton, else the skeleton calibrated
    with the prior (skeleton.json in its run folder), else its anatomical default."""
    from affordhand.prior.model import prior_hand_model

    hand, skeleton = prior_hand_model(prior_spec, args.hand_model, args.mano_dir, args.skeleton)
    _say_prior_skeleton(args, skeleton)
    return hand


def _say_prior_skeleton(args, skeleton) -> None:
    """Say on stderr when the hand takes the skeleton calibrated with the prior (no --skeleton was given)."""
    if skeleton is not None and args.skeleton is None:
        print(f"using the skeleton calibrated with the prior: {skeleton}", file=sys.stderr)


def load_refiner_from_args(args, with_prior: bool = True):
    """Return the Refiner (refinement/loader.py) the flags name: --prior, the hand model flags, --device; it
    says on stderr when the skeleton calibrated with the prior is used (the caller reports refiner.note)."""
    from affordhand.refinement.loader import load_refiner

    refiner = load_refiner(
        args.prior,
        hand_model=args.hand_model,
        mano_dir=args.mano_dir,
        skeleton=args.skeleton,
        device=args.device,
        with_prior=with_prior,
    )
    _say_prior_skeleton(args, refiner.skeleton)
    return refiner


def add_vlm_args(p: argparse.ArgumentParser, base_url: str) -> None:
    p.add_argument("--base-url", default=base_url, help="OpenAI-compatible server (vLLM, Ollama, LM Studio, ...)")
    p.add_argument("--model", help="vision-language model name (e.g. Qwen/Qwen2.5-VL-7B-Instruct)")
    p.add_argument("--summary-model", help="language model for the summary (default: --model)")
    p.add_argument("--api-key-env", help="name of the environment variable that holds the API key")


def openai_describer(args):
    """Return a Describer over the OpenAI-compatible server named by the --base-url/--model flags."""
    from affordhand.text.backends import OpenAIBackend
    from affordhand.text.describe import Describer

    return Describer(OpenAIBackend(args.base_url, args.model, args.summary_model, args.api_key_env))


def json_safe(value):
    """Return value with NaN (a metric over no joints) as null, so the output is strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def warn(message: str) -> None:
    print(message, file=sys.stderr)
