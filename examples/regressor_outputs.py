"""What examples/save_hamer_outputs.py and save_wilor_outputs.py share: boxes from records, the model run
per image (the camera of HaMeR's demo L136-144, which WiLoR's demo L74-81 repeats) and the .npz layout
`affordhand import-regressor --format hamer|wilor` reads. Each script passes its upstream package's loader,
dataset and camera function; this file, beside them, is found when they run.
"""

import argparse
import json
from collections import defaultdict

import numpy as np
import torch


def hand_box(record: dict) -> list[float]:
    """Return the record's box, or the box around its visible keypoints."""
    if record.get("box") is not None:
        return [float(v) for v in record["box"]]
    kp = np.asarray(record["keypoints2d"], dtype=np.float64)
    visible = np.asarray(record.get("visible", [True] * 21), dtype=bool)
    kp = kp[visible] if visible.any() else kp
    return [*kp.min(0).tolist(), *kp.max(0).tolist()]


def main(description: str, load_model, ViTDetDataset, recursive_to, cam_crop_to_full):
    """Run one of the saver scripts: `load_model()` returns (model, model_cfg); the other three are the
    upstream package's own classes and functions, which HaMeR and WiLoR name alike."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--records", required=True, help="JSONL records with image, side and box or keypoints2d")
    parser.add_argument("--out", required=True, help="the .npz to write")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    import cv2

    by_image = defaultdict(list)
    with open(args.records, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                by_image[record["image"]].append(record)
    model, model_cfg = load_model()
    model = model.to(args.device).eval()
    keys = ("global_orient", "hand_pose", "betas")
    out = {f"pred_mano_params.{k}": [] for k in keys}
    for k in (
        "pred_keypoints_2d",
        "pred_keypoints_3d",
        "pred_cam_t_full",
        "box_center",
        "box_size",
        "is_right",
        "focal_length",
        "img_size",
        "ids",
        "image",
    ):
        out[k] = []
    for image_path, records in sorted(by_image.items()):
        img = cv2.imread(image_path)
        if img is None:
            print(f"skipping {image_path}: cannot read it")
            continue
        boxes = np.array([hand_box(r) for r in records])
        is_right = np.array([r.get("side", "right") == "right" for r in records], dtype=np.float32)
        dataset = ViTDetDataset(model_cfg, img, boxes, is_right, rescale_factor=2.0)
        loader = torch.utils.data.DataLoader(dataset, batch_size=len(boxes), shuffle=False)
        for batch in loader:  # one batch: every hand of this image, in the records' order
            batch = recursive_to(batch, args.device)
            with torch.no_grad():
                pred = model(batch)
            multiplier = 2 * batch["right"] - 1
            pred_cam = pred["pred_cam"].clone()
            pred_cam[:, 1] = multiplier * pred_cam[:, 1]
            img_size = batch["img_size"].float()
            focal = model_cfg.EXTRA.FOCAL_LENGTH / model_cfg.MODEL.IMAGE_SIZE * img_size.max()
            cam_t = cam_crop_to_full(pred_cam, batch["box_center"].float(), batch["box_size"].float(), img_size, focal)
            for k in keys:
                out[f"pred_mano_params.{k}"].append(pred["pred_mano_params"][k].cpu().numpy())
            out["pred_keypoints_2d"].append(pred["pred_keypoints_2d"].cpu().numpy())
            out["pred_keypoints_3d"].append(pred["pred_keypoints_3d"].cpu().numpy())
            out["pred_cam_t_full"].append(cam_t.cpu().numpy())
            out["box_center"].append(batch["box_center"].cpu().numpy())
            out["box_size"].append(batch["box_size"].cpu().numpy())
            out["is_right"].append(batch["right"].cpu().numpy())
            out["focal_length"].append(np.full(len(boxes), float(focal)))
            out["img_size"].append(img_size.cpu().numpy())
            out["ids"].append(np.array([r["id"] for r in records]))
            out["image"].append(np.array([image_path] * len(records)))
    np.savez(args.out, **{k: np.concatenate(v) for k, v in out.items()})
    print(f"wrote {args.out}: {sum(len(v) for v in by_image.values())} hands")
