"""Save HaMeR's predictions for the hands of a record file, in the layout `affordhand import-regressor
--format hamer` reads, keeping each record's id and image so that `affordhand evaluate` matches them.

Run it inside a HaMeR checkout (https://github.com/geopavlakos/hamer) with HaMeR's environment. It is not
run by affordhand's tests (HaMeR and its weights are not installed there); `import-regressor` itself is
tested on files in this layout.

    affordhand convert hograspnet ROOT --split s1 --part test --out test.jsonl
    python save_hamer_outputs.py --records test.jsonl --out hamer_outputs.npz
    affordhand import-regressor hamer_outputs.npz --format hamer --out init.jsonl
    affordhand evaluate --gt test.jsonl --pred init.jsonl          # matched by id (or --match image)

Each record needs `image` and either `box` (x0, y0, x1, y1, pixels) or `keypoints2d` (the box around its
visible keypoints, as data sets' ground-truth boxes are made); `side` says which hand. HaMeR's own demo.py
finds boxes with ViTDet and ViTPose inline; to use its detections instead, write them as such records.

Written against geopavlakos/hamer demo.py (commit 3a01849f): the imports of L9-12, `load_hamer` (L38), the
dataset `ViTDetDataset(model_cfg, img_cv2, boxes, right, rescale_factor=2.0)` (L124; boxes (N, 4) xyxy,
right (N,) 1/0), and the camera of L136-144: `pred_cam[:, 1] *= 2 * right - 1`, `scaled_focal_length =
EXTRA.FOCAL_LENGTH / MODEL.IMAGE_SIZE * img_size.max()`, `cam_crop_to_full(pred_cam, box_center, box_size,
img_size, scaled_focal_length)`. Left hands come out mirrored (the crop is flipped): `import-regressor`
mirrors rotations, 2D and 3D keypoints back.
"""

import regressor_outputs  # beside this script
from hamer.datasets.vitdet_dataset import ViTDetDataset  # HaMeR's own package
from hamer.models import DEFAULT_CHECKPOINT, load_hamer
from hamer.utils import recursive_to
from hamer.utils.renderer import cam_crop_to_full

if __name__ == "__main__":
    regressor_outputs.main(
        __doc__.splitlines()[0],
        lambda: load_hamer(DEFAULT_CHECKPOINT),
        ViTDetDataset,
        recursive_to,
        cam_crop_to_full,
    )
