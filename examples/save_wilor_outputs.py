"""Save WiLoR's predictions for the hands of a record file, in the layout `affordhand import-regressor
--format wilor` reads (HaMeR's layout: the two models' outputs have the same keys, shapes and conventions),
keeping each record's id and image so that `affordhand evaluate` matches them.

Run it from the root of a WiLoR checkout (https://github.com/rolpotamias/WiLoR; its loader reads
./mano_data and ./pretrained_models) with WiLoR's environment. It is not
run by affordhand's tests (WiLoR and its weights are not installed there); `import-regressor` itself is
tested on files in this layout.

    affordhand convert hograspnet ROOT --split s1 --part test --out test.jsonl
    python save_wilor_outputs.py --records test.jsonl --out wilor_outputs.npz
    affordhand import-regressor wilor_outputs.npz --format wilor --out init.jsonl
    affordhand evaluate --gt test.jsonl --pred init.jsonl          # matched by id (or --match image)

Each record needs `image` and either `box` (x0, y0, x1, y1, pixels) or `keypoints2d` (the box around its
visible keypoints); `side` says which hand. WiLoR's demo.py finds boxes and sides with its YOLO detector
(`detector(img, conf=0.3)`, class 1 = right); to use its detections, write them as such records.

Written against rolpotamias/WiLoR demo.py (commit 819369a7): the imports of L10-13, `load_wilor(
checkpoint_path='./pretrained_models/wilor_final.ckpt', cfg_path='./pretrained_models/model_config.yaml')`
(L28), the same `ViTDetDataset` call as HaMeR's (L59), and the camera of L74-81, the same as HaMeR's demo
L136-144. Left hands come out mirrored (the crop is flipped): `import-regressor` mirrors them back.
"""

import regressor_outputs  # beside this script
from wilor.datasets.vitdet_dataset import ViTDetDataset  # WiLoR's own package
from wilor.models import load_wilor
from wilor.utils import recursive_to
from wilor.utils.renderer import cam_crop_to_full

if __name__ == "__main__":
    regressor_outputs.main(
        __doc__.splitlines()[0],
        lambda: load_wilor(
            checkpoint_path="./pretrained_models/wilor_final.ckpt", cfg_path="./pretrained_models/model_config.yaml"
        ),
        ViTDetDataset,
        recursive_to,
        cam_crop_to_full,
    )
