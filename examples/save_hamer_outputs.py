"""Save HaMeR's predictions in the layout `affordhand import-regressor --format hamer` reads.

This runs inside a HaMeR checkout (https://github.com/geopavlakos/hamer), next to its demo.py: it reuses
the demo's detector, dataset and model. It is not run by affordhand's tests (HaMeR and its weights are not
installed here); `affordhand import-regressor` itself is tested on files the tests write in this layout.

    python save_hamer_outputs.py --img_folder images --out hamer_outputs.npz
    affordhand import-regressor hamer_outputs.npz --format hamer --out init.jsonl
"""

import argparse

import numpy as np
import torch

from hamer.configs import CACHE_DIR_HAMER  # noqa: F401  (HaMeR's own package)
from hamer.datasets.vitdet_dataset import ViTDetDataset
from hamer.models import DEFAULT_CHECKPOINT, load_hamer
from hamer.utils import recursive_to
from hamer.utils.renderer import cam_crop_to_full

# `detect_hands(img)` stands for the detection part of HaMeR's demo.py (ViTDet + ViTPose), which returns
# boxes (M, 4) and is_right (M,) for one image; copy it from demo.py of your HaMeR version.
from demo import detect_hands  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--img_folder", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import glob
    import os

    import cv2

    model, model_cfg = load_hamer(DEFAULT_CHECKPOINT)
    model = model.to("cuda").eval()
    keys = ("global_orient", "hand_pose", "betas")
    out = {f"pred_mano_params.{k}": [] for k in keys}
    for k in ("pred_keypoints_2d", "pred_keypoints_3d", "pred_cam_t_full", "box_center", "box_size", "is_right",
              "focal_length", "img_size", "ids"):
        out[k] = []
    for path in sorted(glob.glob(os.path.join(args.img_folder, "*"))):
        img = cv2.imread(path)
        boxes, is_right = detect_hands(img)
        if len(boxes) == 0:
            continue
        dataset = ViTDetDataset(model_cfg, img, boxes, is_right, rescale_factor=2.0)
        loader = torch.utils.data.DataLoader(dataset, batch_size=len(boxes), shuffle=False)
        for batch in loader:
            batch = recursive_to(batch, "cuda")
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
            out["ids"].append(np.array([f"{os.path.basename(path)}/{i}" for i in range(len(boxes))]))
    np.savez(args.out, **{k: np.concatenate(v) for k, v in out.items()})


if __name__ == "__main__":
    main()
