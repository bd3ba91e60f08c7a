"""`affordhand image`: photos in, refined 3D hands out (`serve` puts the same behind a web page)."""

from __future__ import annotations

from affordhand.commands.common import (
    PRIOR_HELP,
    add_camera_flags,
    add_detection_flags,
    add_device_arg,
    add_hand_model_args,
    add_vlm_args,
    load_refiner_from_args,
    openai_describer,
    photo_options,
    warn,
)
from affordhand.errors import AffordhandError
from affordhand.photo.options import ImageOptions


def register(sub) -> None:
    p = sub.add_parser("image", help="photos in, refined 3D hands out (MediaPipe, fit, refine, figures, mesh)")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--text", help='affordance sentence, "A right hand ..." (else --describe-backend, else none)')
    p.add_argument(
        "--describe-backend",
        choices=("openai", "template"),
        help="describe each hand with a VLM server (openai), or from --object and --grasp (template)",
    )
    add_vlm_args(p, "http://127.0.0.1:8000/v1")
    p.add_argument("--object", help="template: what the hand holds (a HOGraspNet object name adds its size and shape)")
    p.add_argument("--grasp", help="template: the Feix grasp, by name (e.g. 'medium wrap') or number")
    p.add_argument("--intention", help="template: what the hand does with the object (e.g. drink)")
    p.add_argument("--object-box", help="x0,y0,x1,y1 in pixels: joints inside it and behind the palm are occluded")
    p.add_argument("--occluded", help="fingers you see are hidden, e.g. ring,pinky")
    p.add_argument("--prior", default="default", help=PRIOR_HELP)
    add_camera_flags(p)
    p.add_argument(
        "--cameras",
        metavar="FILE.jsonl",
        help='per-image intrinsics, lines of {"image": "a.jpg", "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]}; '
        "a listed image takes them over --intrinsics and --focal (default for the rest: the photo's EXIF "
        "35 mm-equivalent focal length, else a 60-degree field of view)",
    )
    p.add_argument("--views", action="store_true", help="also write each hand's 3D figure, 3D viewer and mesh (GLB)")
    add_detection_flags(
        p,
        "the photos are",
        "the photo",
        "keep the built-in hand's proportions (default: each hand's joints are moved a few mm to meet its keypoints)",
    )
    p.add_argument("--seed", type=int, default=0)
    add_device_arg(p)
    add_hand_model_args(p)
    p.set_defaults(func=run)


def _options(args) -> ImageOptions:
    """Return the image front end's settings from the flags; a template sentence is made here."""
    from affordhand.data.descriptions import check_sentence, template_sentence
    from affordhand.photo.pipeline import parse_box, parse_fingers, read_cameras

    if not args.max_disagreement > 0:
        raise AffordhandError(f"--max-disagreement must be a positive fraction, got {args.max_disagreement}")
    if args.text:
        check_sentence(args.text, "--text")
    text = args.text
    if args.describe_backend == "template" and not args.text:
        if not (args.object and args.grasp):
            raise AffordhandError("--describe-backend template needs --object and --grasp")
        text = template_sentence("right", args.object, args.grasp, args.intention)  # the side is set per hand
    return photo_options(
        args,
        text=text,
        object_box=parse_box(args.object_box),
        occluded=parse_fingers(args.occluded),
        views=args.views,
        mesh=args.views,
        cameras=read_cameras(args.cameras) if args.cameras else None,
    )


def run(args) -> int:
    from affordhand.hand.surface import require_meshing
    from affordhand.photo.pipeline import run_images

    options = _options(args)
    if options.mesh or options.views:
        require_meshing()
    describer = openai_describer(args) if args.describe_backend == "openai" and not args.text else None
    refiner = load_refiner_from_args(args)
    if refiner.note:
        warn(refiner.note)
    entries = run_images(args.images, args.out, options, refiner, describer)
    print(f"refined {len(entries)} hands in {len(args.images)} images; see {args.out}/report.html")
    return 0 if entries else 1
