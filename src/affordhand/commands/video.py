"""`affordhand video`: a clip in, each hand's track refined as one sequence, records, an overlay video and a
report out (photo/video.py)."""

from __future__ import annotations

from affordhand.commands.common import (
    PRIOR_HELP,
    add_camera_flags,
    add_detection_flags,
    add_device_arg,
    add_hand_model_args,
    load_refiner_from_args,
    photo_options,
    warn,
)


def register(sub) -> None:
    p = sub.add_parser(
        "video", help="a clip in: hands tracked, fitted and refined as sequences; records, overlay video"
    )
    p.add_argument("clip", help="video file (anything FFmpeg reads: MP4, MOV, AVI, WebM, ...)")
    p.add_argument("--out", required=True, help="output folder: records.jsonl, overlay.mp4, report.html")
    p.add_argument("--text", help='affordance sentence, "A right hand ..." (the side is set per track)')
    add_camera_flags(p)
    p.add_argument(
        "--cameras",
        metavar="FILE.jsonl",
        help='per-frame intrinsics of a cropped or zooming clip, lines of {"frame": 0, "K": [[fx, 0, cx], '
        "[0, fy, cy], [0, 0, 1]]} (frames counted from 0); other frames take --intrinsics or --focal",
    )
    p.add_argument("--every", type=int, default=1, help="read every N-th frame (default: 1, every frame)")
    p.add_argument("--max-frames", type=int, help="read at most this many frames")
    p.add_argument("--per-frame", action="store_true", help="refine every frame alone (no sequence refinement)")
    add_detection_flags(p, "the clip is", "a frame", "keep the built-in hand's proportions for every track")
    p.add_argument("--prior", default="default", help=PRIOR_HELP)
    p.add_argument("--seed", type=int, default=0)
    add_device_arg(p)
    add_hand_model_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from affordhand.data.descriptions import check_sentence
    from affordhand.photo.pipeline import read_cameras
    from affordhand.photo.video import VideoOptions, run_video

    if args.text:
        check_sentence(args.text, "--text")
    video = VideoOptions(
        every=args.every,
        max_frames=args.max_frames,
        per_frame=args.per_frame,
        frame_cameras=read_cameras(args.cameras, key="frame") if args.cameras else None,
    )
    options = photo_options(args, text=args.text, views=False, mesh=False, cameras=None)
    refiner = load_refiner_from_args(args)
    if refiner.note:
        warn(refiner.note)
    result = run_video(args.clip, args.out, options, video, refiner)
    if not result.records:
        warn(f"{args.clip}: no hand found in any of the {result.frames} frames read")
        return 1
    print(
        f"refined {result.tracks} tracks over {result.with_hand} of {result.frames} frames; see {args.out}/report.html"
    )
    return 0
