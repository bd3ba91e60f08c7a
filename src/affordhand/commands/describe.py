"""`affordhand describe`: affordance fields and one sentence per hand, from a VLM + LLM or templates."""

from __future__ import annotations

from affordhand.commands.common import DEVICE_HELP, add_vlm_args
from affordhand.errors import AffordhandError


def register(sub) -> None:
    p = sub.add_parser("describe", help="affordance fields and one sentence per hand, from a VLM + LLM or templates")
    p.add_argument("--input", help="hand records with image, box (hand) and object_box")
    p.add_argument("--images", help="a folder of images (with --boxes)")
    p.add_argument("--boxes", help="JSONL: image, side, hand_box, object_box, id (with --images)")
    p.add_argument("--out", required=True, help="descriptions (JSONL); a rerun resumes from OUT.cache.jsonl")
    p.add_argument("--backend", choices=("openai", "transformers", "template"), default="template")
    add_vlm_args(p, "http://127.0.0.1:8000/v1")
    p.add_argument("--taxonomy-from", help="records whose taxonomy_id replaces the model's grasp answer, by id")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--retries", type=int, default=3, help="retries on 429, 5xx and connection errors")
    p.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds (doubles each time)")
    p.add_argument("--device", default="auto", help="device of the transformers backend: " + DEVICE_HELP)
    p.set_defaults(func=run)


def _backend(args):
    """Return the model backend the flags name (None: templates only)."""
    if args.backend == "openai":
        from affordhand.text.backends import OpenAIBackend

        return OpenAIBackend(
            args.base_url, args.model, args.summary_model, args.api_key_env, args.timeout, args.retries, args.backoff
        )
    if args.backend == "transformers":
        from affordhand.text.backends import TransformersBackend

        if not args.model:
            raise AffordhandError("--model is required with --backend transformers")
        return TransformersBackend(args.model, args.summary_model, args.device)
    return None


def _taxonomy(path: str | None) -> dict | None:
    """Return {id: taxonomy_id} from records that carry one, or None."""
    if not path:
        return None
    from affordhand.data.records import read_records

    records = read_records(path, skip_bad=True).records
    return {r["id"]: r["taxonomy_id"] for r in records if r.get("taxonomy_id") is not None}


def run(args) -> int:
    from affordhand.data.provenance import provenance, write_settings
    from affordhand.text.describe import Describer, items_from_images, items_from_records, run_describe
    from affordhand.text.prompt import PROMPT_VERSION

    if bool(args.input) == bool(args.images):
        raise AffordhandError("give either --input RECORDS.jsonl or --images DIR --boxes BOXES.jsonl")
    if args.images and not args.boxes:
        raise AffordhandError("--images needs --boxes BOXES.jsonl")
    items = items_from_records(args.input) if args.input else items_from_images(args.images, args.boxes)
    describer = Describer(_backend(args), _taxonomy(args.taxonomy_from))
    counts = run_describe(items, describer, args.out, args.concurrency)
    base_url = args.base_url if args.backend == "openai" else None
    settings = {**describer.models, "prompt_version": PROMPT_VERSION, "base_url": base_url}
    inputs = {"input": args.input, "images": args.images, "boxes": args.boxes, "taxonomy_from": args.taxonomy_from}
    write_settings(args.out, provenance("describe", settings, inputs), **counts)
    print(
        f"described {len(items)} hands: {counts['done']} done, {counts['cached']} cached, {counts['failed']} failed; "
        f"wrote {args.out}"
    )
    return 0 if not counts["failed"] else 1
