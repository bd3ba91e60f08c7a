"""`affordhand serve`: the web page (upload a photo, mark the object, refine, download); the app is web/."""

from __future__ import annotations

from affordhand.commands.common import PRIOR_HELP, add_device_arg, add_hand_model_args, add_vlm_args, openai_describer


def register(sub) -> None:
    p = sub.add_parser("serve", help="the web page: upload a photo, mark the object, refine, download")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--prior", default="default", help=PRIOR_HELP)
    p.add_argument("--max-upload-mb", type=float, default=8.0)
    p.add_argument("--max-jobs", type=int, default=32, help="results kept for download (the oldest go first)")
    p.add_argument(
        "--request-timeout",
        type=float,
        default=30.0,
        help="seconds a request may stall while sending its headers (at most 10) or body before it is closed",
    )
    p.add_argument("--max-queue", type=int, default=8, help="photos waiting or being refined; more are refused (503)")
    p.add_argument("--max-age-s", type=float, default=3600.0, help="seconds a result is kept for download")
    add_device_arg(p)
    p.add_argument("--describe-backend", choices=("openai",), help="enable 'Generate description' with a VLM server")
    add_vlm_args(p, "http://127.0.0.1:8001/v1")
    add_hand_model_args(p)
    p.set_defaults(func=run_serve)


def run_serve(args) -> int:
    from affordhand.errors import check_range
    from affordhand.web.app import serve

    check_range("--max-queue", args.max_queue, 1, 10_000, integer=True)
    check_range("--request-timeout", args.request_timeout, 0.1, 3600)
    check_range("--max-upload-mb", args.max_upload_mb, 0.001, 1024)
    describer = openai_describer(args) if args.describe_backend else None
    serve(
        args.host,
        args.port,
        prior=args.prior,
        hand_model=args.hand_model,
        mano_dir=args.mano_dir,
        skeleton=args.skeleton,
        describer=describer,
        max_upload_mb=args.max_upload_mb,
        max_jobs=args.max_jobs,
        max_age_s=args.max_age_s,
        max_queue=args.max_queue,
        request_timeout_s=args.request_timeout,
        device=args.device,
    )
    return 0
