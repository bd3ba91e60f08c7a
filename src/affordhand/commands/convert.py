"""`affordhand convert` (HOGraspNet, HO3D v3 to records) and `import-regressor` (HaMeR/WiLoR outputs)."""

from __future__ import annotations

from affordhand.commands.common import warn

SPLITS = ("s0", "s1", "s2", "s3", "s4")


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert HOGraspNet or HO3D v3 to hand records")
    p.add_argument("dataset", choices=("hograspnet", "ho3d"))
    p.add_argument("root", help="the data set's root folder")
    p.add_argument("--out", required=True, help="output records (JSONL)")
    p.add_argument("--split", choices=SPLITS, default="s0", help="HOGraspNet split")
    p.add_argument("--part", default="train", help="train or test (HOGraspNet); train or evaluation (HO3D)")
    p.add_argument("--cams", help="HOGraspNet cameras to read, e.g. mas,sub1 (default: all four)")
    p.add_argument("--limit", type=int, help="convert at most this many files (quick subsets)")
    p.add_argument("--occlusion-labels", help="folder of per-image visibility files (21 values, .json or .txt)")
    p.add_argument(
        "--units",
        choices=("auto", "cm", "mm", "m"),
        default="auto",
        help="units of HOGraspNet 3D joints (published: cm; auto checks the hand's size)",
    )
    p.add_argument("--test-objects", help="override s3's test objects, e.g. 10,2,12")
    p.add_argument("--test-grasps", help="override s4's test grasps, e.g. 23,25")
    p.add_argument("--skeleton", help="calibrated skeleton used to recover global orientation and scale")
    p.add_argument("--gt", help="HO3D evaluation: the released evaluation_xyz.json (joints of evaluation.txt's frames)")
    p.set_defaults(func=run)

    p = sub.add_parser("import-regressor", help="turn HaMeR-style regressor outputs into initial estimates")
    p.add_argument("file", help="the regressor's outputs (.npz for --format hamer, .json for --format json)")
    p.add_argument(
        "--format",
        choices=("hamer", "wilor", "json"),
        default="hamer",
        help="hamer or wilor: the .npz examples/save_{hamer,wilor}_outputs.py write (one layout); json",
    )
    p.add_argument("--out", required=True, help="initial estimates (JSONL) for `affordhand refine`")
    p.set_defaults(func=run_import_regressor)


def _hograspnet(args, root, hand) -> dict:
    from pathlib import Path

    from affordhand.datasets import hograspnet as hog

    rule = hog.SplitRule(split=args.split)
    if args.test_objects:
        rule.test_objects = tuple(int(x) for x in args.test_objects.split(","))
    if args.test_grasps:
        rule.test_grasps = tuple(int(x) for x in args.test_grasps.split(","))
    return hog.convert_split(
        root,
        Path(args.out),
        hand,
        part=args.part,
        rule=rule,
        cams=tuple(args.cams.split(",")) if args.cams else hog.CAMERAS,
        limit=args.limit,
        labels=Path(args.occlusion_labels) if args.occlusion_labels else None,
        units=args.units,
    )


def _ho3d(args, root, hand) -> dict:
    from pathlib import Path

    from affordhand.datasets import ho3d
    from affordhand.datasets.convert import convert_stream

    metas = ho3d.iter_meta(root, args.part)
    if args.limit:
        metas = metas[: args.limit]
    gt = ho3d.load_evaluation_joints(Path(args.gt), ho3d.evaluation_list(root)) if args.gt else None
    if args.part == "evaluation" and gt is None:
        warn(
            "note: HO3D's evaluation pickles hold only the root joint and a box; give --gt "
            "evaluation_xyz.json (released separately) for the evaluation joints"
        )
    convert = lambda path: ho3d.convert_meta(path, gt)
    return convert_stream(metas, convert, Path(args.out), hand, total=len(metas), label=f"ho3d {args.part}")


def run(args) -> int:
    from pathlib import Path

    from affordhand.hand import load_hand_model

    hand = load_hand_model("builtin", skeleton=args.skeleton)
    counts = (_hograspnet if args.dataset == "hograspnet" else _ho3d)(args, Path(args.root), hand)
    print(f"wrote {counts['written']} records to {args.out}; skipped {counts['broken']} broken files")
    if counts["registered"]:
        warn(
            f"warning: {counts['registered']} records state no global orientation (HOGraspNet: Mesh[0].mano_trans "
            "with the camera's extrinsic); it was registered to their joints"
        )
    if counts["no_visibility"]:
        warn(
            f"warning: {counts['no_visibility']} records have no occlusion labels or masks: all joints count as visible"
        )
    return 0


def run_import_regressor(args) -> int:
    from pathlib import Path

    from affordhand.data.records import validate_record, write_records
    from affordhand.datasets.regressor import convert, load_arrays
    from affordhand.errors import AffordhandError

    path = Path(args.file)
    try:  # an array of the wrong size or a field out of range: one line naming it, no traceback
        records = [validate_record(r) for r in convert(load_arrays(path, args.format), path.stem)]
    except ValueError as exc:
        raise AffordhandError(f"{path}: {exc}") from None
    write_records(args.out, records)
    sides = sum(r["side"] == "left" for r in records)
    print(f"wrote {len(records)} initial estimates ({sides} left hands) to {args.out}")
    return 0
