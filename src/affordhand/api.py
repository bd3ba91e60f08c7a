"""The Python API: the command line's jobs as functions, on plain dicts as well as on records read from files::

    import affordhand as ah
    refined = ah.refine([{"id": "h0", "hand_pose": [...45], "global_orient": [...3], "keypoints2d": [[u, v]] * 21,
                          "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], "text": "A right hand holds a mug."}])
    print(ah.evaluate(gt, refined)["overall"]["mpjpe_occluded"])

Records follow the record format (docs/format.md): angles in radians (axis-angle, MANO
joint order), lengths in metres, pixels for keypoints and K. Missing optional fields take the format's
defaults: side "right", every joint visible. Results are the CLI's for the same inputs and seed (the same
hand-model choice, self-calibration, batches and uncertainty recipe).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from affordhand.errors import AffordhandError


def load_prior(spec: str | os.PathLike = "default", device: str = "auto"):
    """Return a prior: "default" (shipped) or a run folder written by `affordhand train`, on device (auto:
    CUDA, then MPS, then CPU)."""
    from affordhand.devices import resolve_device
    from affordhand.prior.model import load_prior as _load

    return _load(spec, resolve_device(device))


def load_refiner(prior: str | os.PathLike = "default", *, device: str = "auto", **options):
    """Return a Refiner (refinement/loader.py: load_refiner, whose keyword options it takes: hand_model,
    mano_dir, skeleton, with_prior, with_uncertainty): the prior, the hand model that goes with it and its
    uncertainty recipe, loaded once, on device (auto: CUDA, then MPS, then CPU). `refiner.refine(records,
    RefineConfig(...))` checks the settings against the prior and refines; `refine()` below does this for one
    call."""
    from affordhand.devices import resolve_device
    from affordhand.refinement.loader import load_refiner as _load

    return _load(prior, device=resolve_device(device), **options)


def read_records(path: str | os.PathLike, skip_bad: bool = False) -> list[dict]:
    """Return the validated records of a JSONL file (arrays as numpy float64, `visible` as bool)."""
    from affordhand.data.records import read_records as _read

    return _read(path, skip_bad=skip_bad).records


def write_records(path: str | os.PathLike, records: list[dict]) -> int:
    """Write records as JSONL, atomically; return how many."""
    from affordhand.data.records import write_records as _write

    return _write(path, records)


def _validated(records: list[dict], required=()) -> list[dict]:
    from affordhand.data.records import validate_record

    if isinstance(records, dict):
        records = [records]
    out, seen = [], set()
    for i, raw in enumerate(records):
        try:
            rec = validate_record(raw, required)
        except ValueError as exc:
            raise AffordhandError(f"record {i}: {exc}") from None
        if rec["id"] in seen:
            raise AffordhandError(f"record {i}: id {rec['id']!r} appears more than once")
        seen.add(rec["id"])
        out.append(rec)
    return out


def _refine_config(mode, seed, per_frame, orient_prior, refit_global, options: dict):
    """Return the RefineConfig of refine()'s arguments; options go to the guided or the sequence settings by
    name (an unknown one is refused, naming the choices)."""
    from dataclasses import fields

    from affordhand.refinement.settings import FitConfig, GuidedConfig, RefineConfig, SequenceConfig

    guided_names, sequence_names = {f.name for f in fields(GuidedConfig)}, {f.name for f in fields(SequenceConfig)}
    unknown = sorted(set(options) - guided_names - sequence_names)
    if unknown:
        known = ", ".join(sorted(guided_names | sequence_names))
        raise AffordhandError(f"unknown option(s) {', '.join(unknown)}: choose from {known}")
    fit = FitConfig() if orient_prior is None else FitConfig(orient_prior=orient_prior)
    return RefineConfig(
        mode=mode,
        seed=seed,
        per_frame=per_frame,
        guided=GuidedConfig(**{k: v for k, v in options.items() if k in guided_names}),
        fit=fit,
        sequence=SequenceConfig(**{k: v for k, v in options.items() if k in sequence_names}),
        refit_global=refit_global,
    )


def refine(
    records: list[dict],
    *,
    prior: str | os.PathLike = "default",
    mode: str = "affordance",
    seed: int = 0,
    device: str = "auto",
    hand_model: str = "builtin",
    skeleton: str | None = None,
    self_calibration: bool = True,
    refit_global: bool = True,
    orient_prior: float | None = None,
    per_frame: bool = False,
    **options,
) -> list[dict]:
    """Return refined copies of hand records, as `affordhand refine` writes them.

    Each record needs `id`, `hand_pose` (45 rad), `global_orient` (3 rad), `keypoints2d` (21 x 2 px) and `K`
    (3 x 3 px); `side`, `visible`, `transl`, `scale`, `text` and the regressor's own `joints3d` are used
    when given. mode: affordance, uncond, fit or none. refit_global: a second global fit once the fingers are
    refined (refinement step 6, docs/commands/refine.md). orient_prior: how strongly the global fit holds each input's
    own orientation (None: FitConfig's default; 0: the keypoints alone set it). options: the guided
    refinement's settings by name (t_start, steps, keypoint_weight, cfg, samples, select, noising, sample_noise,
    occluded_t_start, bounds, fallback, pose_convention, unseen_objects) and of the sequences' (smoothness,
    carry_frames, ...: refinement/settings.py: SequenceConfig). Records that carry `sequence` and `frame` are
    refined jointly per sequence (refinement/sequence.py) unless per_frame. Each refined record gets
    hand_pose, global_orient, transl, scale, joints3d (m, camera frame) and, with the prior, joint_std_mm,
    joint_move_mm and joint_uncertainty_mm (21 values each, mm), fingers_kept (5 bools, thumb to pinky: the
    fingers whose seen rotations were set back to the input pose) and conditioned_on (the condition fields
    the prior was given: "text", "grasp")."""
    from affordhand.devices import resolve_device
    from affordhand.refinement.batch import NEEDED
    from affordhand.refinement.loader import load_refiner
    from affordhand.refinement.pipeline import MODES, match_hand_to_input
    from affordhand.refinement.settings import PRIOR_MODES

    if mode not in MODES:
        raise AffordhandError(f"unknown mode {mode!r}: {', '.join(MODES)}")
    if "guidance" in options:  # keypoint_weight's old name
        import warnings

        warnings.warn(
            "refine(guidance=) is now keypoint_weight=; the old name goes in the next release", DeprecationWarning, 2
        )
        options["keypoint_weight"] = options.pop("guidance")
    config = _refine_config(mode, seed, per_frame, orient_prior, refit_global, options)
    records = _validated(records, NEEDED)
    device = resolve_device(device)
    with_prior = mode in PRIOR_MODES
    refiner = load_refiner(prior, hand_model=hand_model, skeleton=skeleton, device=device, with_prior=with_prior)
    hand, _ = match_hand_to_input(records, refiner.hand, self_calibration)
    return refiner.refine(records, config, hand)


def evaluate(
    gt: list[dict], pred: list[dict], by: str | None = None, prior: str | None = None, match: str = "id"
) -> dict:
    """Return {"overall": metrics, "groups": {key: metrics}, "missing_in_pred", "extra_in_pred", "not_finite"}
    of predictions against ground truth, matched by id (or image). Metrics in mm: mpjpe, pa_mpjpe and both
    over visible and occluded joints, auc (PCK of PA errors over 0-50 mm), count; with joint_uncertainty_mm,
    the coverage and mean radius per group. by: taxonomy, object, occluded_count, camera or subject."""
    from affordhand.eval.evaluate import evaluate as _evaluate
    from affordhand.prior.model import prior_hand_model

    hand = prior_hand_model(prior)[0]
    result = _evaluate(_validated(gt), _validated(pred), hand, by=by, match=match)
    return {
        "overall": result.overall,
        "groups": result.groups,
        "missing_in_pred": result.missing_in_pred,
        "extra_in_pred": result.extra_in_pred,
        "not_finite": result.not_finite,
    }


def sample(
    text: str | None,
    n: int = 16,
    prior: str | os.PathLike = "default",
    seed: int = 0,
    guidance: float = 3.0,
    steps: int = 50,
) -> np.ndarray:
    """Return n right-hand finger poses (n, 45), rad, drawn from the prior for a sentence (None: without
    text), as `affordhand sample` does."""
    from affordhand.prior.generate import sample_poses

    if n < 1:
        raise AffordhandError("n must be positive")
    return sample_poses(load_prior(prior), [text] * n, guidance, steps, "ddim", seed).numpy()


def _array_file(image, path: Path) -> Path:
    """Write an RGB uint8 array (H, W, 3) as a PNG at path and return the path."""
    from PIL import Image

    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise AffordhandError(f"image must be a path or an RGB uint8 array (H, W, 3), got {array.shape} {array.dtype}")
    Image.fromarray(array).save(path)
    return path


def refine_image(
    image,
    text: str | None = None,
    object_box=None,
    *,
    prior: str | os.PathLike = "default",
    samples: int = 4,
    seed: int = 0,
    occluded=(),
    out: str | os.PathLike | None = None,
    name: str = "image",
    device: str = "auto",
    own_proportions: bool = True,
    focal: float | None = None,
    K=None,
) -> list[dict]:
    """Return the refined record of every hand MediaPipe finds in a photo, as `affordhand image` makes them.

    image: a file path, or an RGB array (H, W, 3) uint8. text: "A right hand ..." (None: unconditional).
    object_box: (x0, y0, x1, y1) px; joints inside it and behind the palm count as occluded. occluded:
    finger names the caller knows are hidden. out: a folder for the overlay, mesh and views (default: a
    temporary one, removed). name: an array's name, which its hands' ids (and so their seeds) come from, as a
    file's stem does. own_proportions: each hand's joints move a few mm to meet its keypoints, its skeleton
    kept in the record (False: the built-in proportions, `--builtin-proportions`). focal: the camera's focal
    length, px (default: a 60-degree field of view, `--focal`); K: a calibrated camera's intrinsics, 3 x 3 px
    (focal lengths and principal point; overrides focal)."""
    import tempfile

    from affordhand.data.descriptions import check_sentence
    from affordhand.devices import resolve_device
    from affordhand.photo.options import ImageOptions
    from affordhand.photo.pipeline import process_image
    from affordhand.refinement.loader import load_refiner

    if text is not None:
        check_sentence(text, "text")
    device = resolve_device(device)
    options = ImageOptions(
        text=text,
        object_box=tuple(object_box) if object_box is not None else None,
        occluded=tuple(occluded),
        samples=samples,
        seed=seed,
        views=out is not None,
        mesh=out is not None,
        own_skeleton=own_proportions,
        device=device,
        focal=focal,
        intrinsics=_intrinsics(K),
    )
    refiner = load_refiner(prior, device=device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(out) if out is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = image if isinstance(image, (str, os.PathLike)) else _array_file(image, Path(tmp) / f"{name}.png")
        entries = process_image(Path(path), folder, options, refiner)
        return [e["record"] for e in entries]


def refine_video(
    clip: str | os.PathLike,
    out: str | os.PathLike | None = None,
    text: str | None = None,
    *,
    prior: str | os.PathLike = "default",
    every: int = 1,
    max_frames: int | None = None,
    per_frame: bool = False,
    samples: int = 4,
    seed: int = 0,
    device: str = "auto",
    own_proportions: bool = True,
    focal: float | None = None,
    K=None,
    frame_K: dict | None = None,
) -> list[dict]:
    """Return the refined record of every hand in every frame read of a clip, as `affordhand video` makes
    them: hands tracked, each track refined as one sequence (`sequence`, `frame`, `time` in each record).

    out: a folder for records.jsonl, overlay.mp4 and report.html (None: nothing written). every: read every
    N-th frame; max_frames: at most this many. per_frame: refine frames alone. focal (px) or K (3 x 3 px): the
    camera; frame_K: {frame index: 3 x 3} for a cropped or zooming clip. The other arguments as
    refine_image's."""
    from affordhand.data.descriptions import check_sentence
    from affordhand.devices import resolve_device
    from affordhand.photo.options import ImageOptions
    from affordhand.photo.video import VideoOptions, run_video
    from affordhand.refinement.loader import load_refiner

    if text is not None:
        check_sentence(text, "text")
    device = resolve_device(device)
    cameras = {int(k): _intrinsics(v) for k, v in (frame_K or {}).items()}
    video = VideoOptions(every=every, max_frames=max_frames, per_frame=per_frame, frame_cameras=cameras or None)
    options = ImageOptions(
        text=text,
        samples=samples,
        seed=seed,
        views=False,
        mesh=False,
        own_skeleton=own_proportions,
        device=device,
        focal=focal,
        intrinsics=_intrinsics(K),
    )
    return run_video(clip, out, options, video, load_refiner(prior, device=device)).records


def _intrinsics(K) -> tuple | None:
    """Return (fx, fy, cx, cy) from a 3 x 3 intrinsics matrix, or None."""
    if K is None:
        return None
    K = np.asarray(K, dtype=float)
    if K.shape != (3, 3):
        raise AffordhandError(f"K must be a 3 x 3 intrinsics matrix, got shape {K.shape}")
    return (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))
