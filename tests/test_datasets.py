import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from affordhand.cli import main
from affordhand.data.records import read_records
from affordhand.hand import BuiltinHand

HAND = BuiltinHand().double()
rng = np.random.default_rng(0)


def _hand(pose, orient, transl):
    return (
        HAND(torch.as_tensor(orient)[None], torch.as_tensor(pose)[None], transl=torch.as_tensor(transl)[None])
        .joints[0]
        .numpy()
    )


K_HOG = np.array([[900.0, 0, 960], [0, 900.0, 540], [0, 0, 1]])
# World-to-camera extrinsics as the published files hold them (3 x 4; translation in cm, unused by the reader).
EXTRINSICS = {"mas": np.eye(3, 4)}
for _cam, _angles in (("sub1", (0.3, -0.4, 0.1)), ("sub2", (-0.2, 0.5, 0.0)), ("sub3", (0.1, 0.2, -0.6))):
    EXTRINSICS[_cam] = np.concatenate([roma.rotvec_to_rotmat(torch.tensor(_angles)).numpy(), [[8.0], [-3.0], [5.0]]], 1)


def _annotation(subject, obj, grasp, cam="mas", side="right"):
    """One annotation file as HOnnotate_OXR wrote it: joints in cm in the world (mas) frame and in this
    camera's frame, the world-frame root rotation in Mesh[0].mano_trans, 21 x 2 projected keypoints.
    Returns (file dict, camera-frame joints in metres, the camera-frame orientation as a rotation matrix)."""
    pose = rng.normal(0, 0.2, 45)
    orient = rng.normal(0, 0.6, 3)
    world = _hand(pose, orient, np.array([0.02, -0.01, 0.6]))  # metres
    E = EXTRINSICS[cam]
    cam_joints = world @ E[:, :3].T + E[:, 3] / 100
    uv = (cam_joints / cam_joints[:, 2:3]) @ K_HOG.T
    R_cam = E[:, :3] @ roma.rotvec_to_rotmat(torch.as_tensor(orient)).numpy()
    return (
        {
            "actor": {"id": f"S{subject}"},
            "images": {"width": 1920, "height": 1080},
            "object": {"id": str(obj), "name": "x"},
            "calibration": {"intrinsic": K_HOG.tolist(), "extrinsic": E.tolist()},
            "annotations": [{"class_id": grasp, "class_name": "y", "data": (world * 100).tolist()}],
            "Mesh": [
                {
                    "class_id": grasp,
                    "class_name": "y",
                    "object_name": "x",
                    "mano_side": side,
                    "mano_trans": [orient.tolist()],
                    "mano_pose": [pose.tolist()],
                    "mano_betas": [[0.0] * 10],
                }
            ],
            "hand": {
                "mano_scale": 1.0,
                "mano_xyz_root": (world[0] * 100).tolist(),
                "3D_pose_per_cam": (cam_joints * 100).tolist(),
                "projected_2D_pose_per_cam": uv[:, :2].tolist(),
            },
        },
        cam_joints,
        R_cam,
    )


@pytest.fixture()
def hog_root(tmp_path):
    truth = {}
    for subject, obj, grasp in ((1, 10, 3), (2, 7, 23), (3, 4, 11), (4, 7, 3)):
        seq = f"230905_S{subject:02d}_obj_{obj:02d}_grasp_{grasp}"
        for trial in (0, 1):
            for cam in ("mas", "sub3"):
                folder = tmp_path / "data" / "labeling_data" / seq / f"trial_{trial}" / "annotation" / cam
                folder.mkdir(parents=True)
                for frame in (5, 6):
                    anno, joints, R_cam = _annotation(subject, obj, grasp, cam)
                    (folder / f"{cam}_{frame}.json").write_text(json.dumps(anno))
                    truth[f"{seq}/trial_{trial}/{cam}/{frame}"] = (joints, R_cam, anno)
    bad = tmp_path / "data" / "labeling_data" / "230905_S01_obj_10_grasp_3" / "trial_0" / "annotation" / "mas"
    (bad / "mas_7.json").write_text("{ not json")
    anno, _, _ = _annotation(1, 10, 3)
    del anno["Mesh"][0]["mano_pose"]
    (bad / "mas_8.json").write_text(json.dumps(anno))
    return tmp_path, truth


def test_hograspnet_as_published_cm_joints_and_mano_trans_rotation_in_each_camera(hog_root, tmp_path, capsys):
    root, truth = hog_root
    out = tmp_path / "s0_test.jsonl"
    assert main(["convert", "hograspnet", str(root), "--split", "s0", "--part", "test", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "mas_7.json" in err and "mas_8.json" in err and "no occlusion labels" in err
    assert "registered" not in err  # every file states its orientation
    recs = read_records(out).records
    assert len(recs) == 4 * 2 * 2  # trial 0 of 4 sequences, 2 cameras, 2 frames
    for r in recs:
        joints, R_cam, _ = truth[r["id"]]
        assert np.abs(r["joints3d"] - joints).max() < 1e-3  # cm -> m, within 1 mm
        R = roma.rotvec_to_rotmat(torch.as_tensor(r["global_orient"]))
        degrees = float(roma.rotmat_geodesic_distance(R, torch.as_tensor(R_cam))) * 180 / np.pi
        assert degrees < 1.0, (r["camera"], degrees)  # R_ext @ R(mano_trans), sub cameras included
        assert r["orientation_source"] == "mano_trans" and abs(r["scale"] - 1.0) < 1e-3
        assert r["keypoints2d"].shape == (21, 2) and r["camera"] in ("mas", "sub3")
        assert "mano_trans" not in r  # not a translation: it became global_orient
        seq, trial, cam, frame = r["id"].split("/")
        assert r["sequence"] == f"{seq}/{trial}/{cam}" and r["frame"] == int(frame)  # one camera's view of a trial
    assert {r["object"] for r in recs} == {"knife", "mug", "apple"}


def test_hograspnet_units_are_checked_against_the_hand_size_and_a_missing_rotation_is_registered(
    hog_root, tmp_path, capsys
):
    root, truth = hog_root
    out = tmp_path / "o.jsonl"
    assert main(["convert", "hograspnet", str(root), "--units", "mm", "--limit", "2", "--out", str(out)]) == 0
    assert "wrong --units" in capsys.readouterr().err and read_records(out).records == []
    path = root / "data" / "labeling_data" / "230905_S02_obj_07_grasp_23" / "trial_1" / "annotation" / "sub3"
    anno = json.loads((path / "sub3_5.json").read_text())
    del anno["Mesh"][0]["mano_trans"]
    (path / "sub3_5.json").write_text(json.dumps(anno))
    assert main(["convert", "hograspnet", str(root), "--split", "s2", "--part", "test", "--out", str(out)]) == 0
    assert "1 records state no global orientation" in capsys.readouterr().err
    rec = {r["id"]: r for r in read_records(out).records}["230905_S02_obj_07_grasp_23/trial_1/sub3/5"]
    R = roma.rotvec_to_rotmat(torch.as_tensor(rec["global_orient"]))
    assert rec["orientation_source"] == "registration"
    assert float(roma.rotmat_geodesic_distance(R, torch.as_tensor(truth[rec["id"]][1]))) < 1e-3


@pytest.mark.parametrize(
    "split, part, expect",
    [
        ("s1", "test", set()),
        ("s2", "test", {"sub3"}),
        ("s3", "test", {"knife", "apple"}),
        ("s4", "test", {23}),
        ("s3", "train", {"mug"}),
    ],
)
def test_hograspnet_split_rules(hog_root, tmp_path, split, part, expect):
    root, _ = hog_root
    out = tmp_path / "o.jsonl"
    args = ["convert", "hograspnet", str(root), "--split", split, "--part", part, "--out", str(out)]
    assert main(args) == 0
    recs = read_records(out).records
    if split == "s1":
        assert recs == []  # 4 subjects: all within the first 73
    elif split == "s2":
        assert {r["camera"] for r in recs} == expect
    elif split == "s4":
        assert {r["taxonomy_id"] for r in recs} == expect
    else:
        assert {r["object"] for r in recs} == expect


def test_hograspnet_limit_cams_and_occlusion_labels(hog_root, tmp_path):
    root, _ = hog_root
    labels = tmp_path / "labels" / "230905_S02_obj_07_grasp_23" / "trial_1" / "mas"
    labels.mkdir(parents=True)
    (labels / "mas_5.json").write_text(json.dumps([1] * 16 + [0] * 5))
    out = tmp_path / "o.jsonl"
    assert (
        main(
            [
                "convert",
                "hograspnet",
                str(root),
                "--split",
                "s0",
                "--part",
                "train",
                "--cams",
                "mas",
                "--occlusion-labels",
                str(tmp_path / "labels"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    recs = {r["id"]: r for r in read_records(out).records}
    assert all(r["camera"] == "mas" for r in recs.values())
    assert recs["230905_S02_obj_07_grasp_23/trial_1/mas/5"]["visible"].sum() == 16
    assert main(["convert", "hograspnet", str(root), "--limit", "3", "--out", str(out)]) == 0
    assert len(read_records(out).records) == 3


def test_hograspnet_visibility_from_masks(hog_root, tmp_path):
    from PIL import Image

    root, _ = hog_root
    extra = root / "data" / "extra_data" / "230905_S03_obj_04_grasp_11" / "trial_1"
    for kind, fill in (("hand_mask", 0), ("obj_mask", 255)):
        (extra / kind / "sub3").mkdir(parents=True)
        Image.fromarray(np.full((1080, 1920), fill, np.uint8)).save(extra / kind / "sub3" / "sub3_5.png")
    out = tmp_path / "o.jsonl"
    assert main(["convert", "hograspnet", str(root), "--split", "s0", "--part", "train", "--out", str(out)]) == 0
    rec = {r["id"]: r for r in read_records(out).records}["230905_S03_obj_04_grasp_11/trial_1/sub3/5"]
    assert rec["visible"].sum() == 0  # the object covers the whole image and the hand mask is empty


def _extract_bbox_origin(uv, width=1920, height=1080):
    """The crop origin as HOGraspNet's scripts/util/utils.py extractBbox and its slicing compute it."""
    x_avg, y_avg = (uv[:, 0].min() + uv[:, 0].max()) / 2, (uv[:, 1].min() + uv[:, 1].max()) / 2
    x_min, y_min = max(0, x_avg - 320), max(0, y_avg - 240)
    x_min = width - 640 if x_min + 640 > width else x_min
    y_min = height - 480 if y_min + 480 > height else y_min
    return int(x_min), int(y_min)


def test_hograspnet_crop_aligned_masks_hide_the_occluded_joints_and_crops_shift_k(hog_root, tmp_path):
    from PIL import Image

    root, truth = hog_root
    rid = "230905_S03_obj_04_grasp_11/trial_1/sub3/5"
    uv = np.asarray(truth[rid][2]["hand"]["projected_2D_pose_per_cam"])
    ox, oy = _extract_bbox_origin(uv)
    hand_mask, obj_mask = np.zeros((480, 640), np.uint8), np.zeros((480, 640), np.uint8)
    hidden = [4, 8, 12, 16, 20]  # an occluder over the fingertips, drawn in the crop's pixels
    for j in range(21):
        u, v = int(uv[j, 0]) - ox, int(uv[j, 1]) - oy
        (obj_mask if j in hidden else hand_mask)[max(v - 2, 0) : v + 3, max(u - 2, 0) : u + 3] = 255
    extra = root / "data" / "extra_data" / "230905_S03_obj_04_grasp_11" / "trial_1"
    for kind, mask in (("hand_mask", hand_mask), ("obj_mask", obj_mask)):
        (extra / kind / "sub3").mkdir(parents=True)
        Image.fromarray(mask).save(extra / kind / "sub3" / "sub3_5.png")
    crop = root / "data" / "source_augmented" / "230905_S03_obj_04_grasp_11" / "trial_1" / "rgb_crop" / "sub3"
    crop.mkdir(parents=True)
    Image.fromarray(np.zeros((480, 640, 3), np.uint8)).save(crop / "sub3_5.jpg")
    out = tmp_path / "o.jsonl"
    assert main(["convert", "hograspnet", str(root), "--split", "s0", "--part", "train", "--out", str(out)]) == 0
    rec = {r["id"]: r for r in read_records(out).records}[rid]
    assert np.flatnonzero(~rec["visible"]).tolist() == hidden
    assert rec["image"].endswith("rgb_crop/sub3/sub3_5.jpg") and rec["crop_origin"] == [ox, oy]
    projected = (rec["joints3d"] / rec["joints3d"][:, 2:3]) @ rec["K"].T  # K moved with the crop
    assert np.abs(projected[:, :2] - rec["keypoints2d"]).max() < 1e-3
    assert rec["keypoints2d"].min() >= 0 and rec["keypoints2d"][:, 0].max() < 640


def test_a_hamer_style_import_of_hograspnet_matches_every_ground_truth_record(hog_root, tmp_path, capsys):
    root, _ = hog_root
    gt_path = tmp_path / "gt.jsonl"
    assert main(["convert", "hograspnet", str(root), "--split", "s0", "--part", "test", "--out", str(gt_path)]) == 0
    gt = read_records(gt_path).records
    n = len(gt)
    images = [str(tmp_path / "imgs" / r["id"].replace("/", "_")) + ".jpg" for r in gt]
    for r, image in zip(gt, images):
        r["image"] = image
    from affordhand.data.records import write_records

    write_records(gt_path, gt)
    R = lambda v: roma.rotvec_to_rotmat(torch.as_tensor(np.asarray(v))).numpy()
    arrays = {  # what examples/save_hamer_outputs.py saves, with the records' ids and images
        "pred_mano_params.global_orient": np.stack([R(r["global_orient"]) for r in gt])[:, None],
        "pred_mano_params.hand_pose": np.stack([R(r["hand_pose"].reshape(15, 3)) for r in gt]),
        "pred_keypoints_2d": np.zeros((n, 21, 2)),
        "box_center": np.tile([960.0, 540], (n, 1)),
        "box_size": np.full(n, 300.0),
        "is_right": np.ones(n),
        "focal_length": np.full(n, 900.0),
        "img_size": np.tile([1920.0, 1080], (n, 1)),
        "ids": np.array([r["id"] for r in gt]),
        "image": np.array(images),
    }
    np.savez(tmp_path / "hamer.npz", **arrays)
    assert main(["import-regressor", str(tmp_path / "hamer.npz"), "--out", str(tmp_path / "init.jsonl")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--gt", str(gt_path), "--pred", str(tmp_path / "init.jsonl"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == n and report["missing_in_pred"] == [] and report["extra_in_pred"] == []
    arrays["ids"] = np.array([f"{Path(i).name}/0" for i in images])  # a saver that names hands by file
    np.savez(tmp_path / "hamer.npz", **arrays)
    assert main(["import-regressor", str(tmp_path / "hamer.npz"), "--out", str(tmp_path / "init.jsonl")]) == 0
    capsys.readouterr()
    assert (
        main(["evaluate", "--gt", str(gt_path), "--pred", str(tmp_path / "init.jsonl"), "--json", "--match", "image"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["count"] == n


def test_ho3d_evaluation_reads_the_official_list_and_the_released_joints(tmp_path, capsys):
    from affordhand.datasets.ho3d import HO3D_TO_OPENPOSE, OPENGL_TO_CV

    K = np.array([[614.0, 0, 320], [0, 614.0, 240], [0, 0, 1]])
    frames, xyz, truth = [("SM2", "0003"), ("AP1", "0010")], [], {}
    for seq, frame in frames:
        joints_cv = _hand(rng.normal(0, 0.2, 45), rng.normal(0, 0.5, 3), np.array([0.0, 0.0, 0.5]))
        gl = np.zeros((21, 3))
        gl[list(HO3D_TO_OPENPOSE)] = joints_cv @ OPENGL_TO_CV.T  # MANO order, OpenGL frame, as released
        xyz.append(gl.tolist())
        truth[f"{seq}/{frame}"] = joints_cv
        path = tmp_path / "evaluation" / seq / "meta" / f"{frame}.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps({"handJoints3D": gl[0], "handBoundingBox": [1.0, 2, 3, 4], "camMat": K}))
    extra = tmp_path / "evaluation" / "SM2" / "meta" / "9999.pkl"  # a pickle outside the official list
    extra.write_bytes(pickle.dumps({"handJoints3D": np.zeros(3), "camMat": K}))
    (tmp_path / "evaluation.txt").write_text("".join(f"{s}/{f}\n" for s, f in frames))
    (tmp_path / "evaluation_xyz.json").write_text(json.dumps(xyz))
    out = tmp_path / "o.jsonl"
    assert main(["convert", "ho3d", str(tmp_path), "--part", "evaluation", "--out", str(out)]) == 0
    assert "give --gt evaluation_xyz.json" in capsys.readouterr().err
    assert [r["id"] for r in read_records(out).records] == ["SM2/0003", "AP1/0010"]  # the list, in its order
    assert (
        main(
            [
                "convert",
                "ho3d",
                str(tmp_path),
                "--part",
                "evaluation",
                "--gt",
                str(tmp_path / "evaluation_xyz.json"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for r in read_records(out).records:
        assert np.abs(r["joints3d"] - truth[r["id"]]).max() < 1e-6


def _ho3d_meta(path, pose, joints, K):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        pickle.dumps(
            {
                "handPose": pose,
                "handTrans": np.zeros(3),
                "handBeta": np.zeros(10),
                "handJoints3D": joints,
                "camMat": K,
                "objName": "006_mustard_bottle",
            }
        )
    )


def test_ho3d_converts_camera_frame_and_joint_order(tmp_path):
    K = np.array([[614.0, 0, 320], [0, 614.0, 240], [0, 0, 1]])
    pose = rng.normal(0, 0.3, 48)
    ours = _hand(pose[3:], np.zeros(3), np.zeros(3))
    # HO3D stores MANO order with tips last, in OpenGL camera coordinates.
    from affordhand.datasets.ho3d import HO3D_TO_OPENPOSE, OPENGL_TO_CV

    R_cv = roma.rotvec_to_rotmat(torch.as_tensor(rng.normal(0, 0.5, 3))).numpy()
    joints_cv = ours @ R_cv.T + np.array([0.0, 0.0, 0.5])
    ho3d = np.zeros((21, 3))
    ho3d[list(HO3D_TO_OPENPOSE)] = joints_cv @ OPENGL_TO_CV.T
    pose[:3] = roma.rotmat_to_rotvec(torch.as_tensor(OPENGL_TO_CV @ R_cv)).numpy()
    _ho3d_meta(tmp_path / "train" / "SM1" / "meta" / "0000.pkl", pose, ho3d, K)
    out = tmp_path / "o.jsonl"
    assert main(["convert", "ho3d", str(tmp_path), "--part", "train", "--out", str(out)]) == 0
    rec = read_records(out).records[0]
    assert rec["sequence"] == "SM1" and rec["frame"] == 0  # from the folder and the file name
    assert np.allclose(rec["joints3d"], joints_cv, atol=1e-6)
    model = _hand(rec["hand_pose"], rec["global_orient"], rec["transl"])
    assert np.allclose(model, joints_cv, atol=1e-5)
    assert rec["keypoints2d"][0][0] == pytest.approx(320 + 614 * joints_cv[0, 0] / joints_cv[0, 2])


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/affordhand_pwned",))


def test_ho3d_refuses_a_malicious_pickle(tmp_path, capsys):
    path = tmp_path / "train" / "SM1" / "meta" / "0000.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"handPose": _Evil()}))
    out = tmp_path / "o.jsonl"
    assert main(["convert", "ho3d", str(tmp_path), "--part", "train", "--out", str(out)]) == 0
    assert "refusing to load" in capsys.readouterr().err
    assert not __import__("pathlib").Path("/tmp/affordhand_pwned").exists()
    assert read_records(out).records == []


def _hamer_file(tmp_path, fmt):
    n = 3
    orient = roma.random_rotvec(n, dtype=torch.float64)
    pose = torch.as_tensor(rng.normal(0, 0.2, (n, 15, 3)))
    right = np.array([1, 0, 1])
    kp_crop = rng.uniform(-0.4, 0.4, (n, 21, 2))
    arrays = {
        "pred_mano_params.global_orient": roma.rotvec_to_rotmat(orient).numpy()[:, None],
        "pred_mano_params.hand_pose": roma.rotvec_to_rotmat(pose).numpy(),
        "pred_mano_params.betas": np.zeros((n, 10)),
        "pred_keypoints_2d": kp_crop,
        "box_center": np.array([[300.0, 200], [400, 250], [100, 120]]),
        "box_size": np.array([200.0, 150, 100]),
        "is_right": right,
        "focal_length": np.full(n, 5000.0 / 256 * 640),
        "img_size": np.tile([640.0, 480], (n, 1)),
        "pred_cam_t_full": np.tile([0.0, 0.0, 1.0], (n, 1)),
        "pred_keypoints_3d": rng.normal(0, 0.05, (n, 21, 3)),
        "ids": np.array(["a", "b", "c"]),
    }
    path = tmp_path / ("h.json" if fmt == "json" else "h.npz")
    if fmt != "json":
        np.savez(path, **arrays)
    else:
        path.write_text(json.dumps({k: v.tolist() for k, v in arrays.items()}))
    return path, orient.numpy(), pose.numpy(), kp_crop


@pytest.mark.parametrize("fmt", ["hamer", "wilor", "json"])  # WiLoR's saver writes HaMeR's layout
def test_import_regressor_converts_rotations_and_mirrors_left_hands(tmp_path, fmt):
    path, orient, pose, kp_crop = _hamer_file(tmp_path, fmt)
    out = tmp_path / "init.jsonl"
    assert main(["import-regressor", str(path), "--format", fmt, "--out", str(out)]) == 0
    recs = read_records(out).records
    assert [r["id"] for r in recs] == ["a", "b", "c"] and [r["side"] for r in recs] == ["right", "left", "right"]
    assert np.allclose(recs[0]["hand_pose"], pose[0].reshape(45), atol=1e-6)
    assert np.allclose(recs[1]["hand_pose"], (pose[1] * [1, -1, -1]).reshape(45), atol=1e-6)
    assert np.allclose(recs[1]["global_orient"], orient[1] * [1, -1, -1], atol=1e-6)
    assert np.allclose(recs[0]["keypoints2d"], kp_crop[0] * 200 + [300, 200])
    assert np.allclose(recs[1]["keypoints2d"][:, 0], -kp_crop[1, :, 0] * 150 + 400)  # mirrored crop
    assert recs[0]["K"][0, 2] == 320 and recs[0]["K"][0, 0] == pytest.approx(12500)
    own = np.load(path) if fmt != "json" else None
    kp3d = (
        own["pred_keypoints_3d"] if own is not None else np.asarray(json.loads(path.read_text())["pred_keypoints_3d"])
    )
    assert np.allclose(recs[0]["joints3d"], kp3d[0] + [0, 0, 1], atol=1e-6)  # the regressor's own joints kept
    assert np.allclose(recs[1]["joints3d"], kp3d[1] * [-1, 1, 1] + [0, 0, 1], atol=1e-6)  # left: mirrored back
    assert np.allclose(recs[1]["transl"], recs[1]["joints3d"][0])


def test_import_regressor_passes_a_clips_sequence_frame_and_time_through(tmp_path, capsys):
    path, *_ = _hamer_file(tmp_path, "hamer")
    arrays = dict(np.load(path))
    arrays.update(
        sequence=np.array(["clip", "clip", "other"]), frame=np.array([0, 1, 0]), time=np.array([0, 1 / 30, 0])
    )
    np.savez(path, **arrays)
    out = tmp_path / "init.jsonl"
    assert main(["import-regressor", str(path), "--out", str(out)]) == 0
    recs = read_records(out).records
    assert [(r["sequence"], r["frame"]) for r in recs] == [("clip", 0), ("clip", 1), ("other", 0)]
    assert recs[1]["time"] == pytest.approx(1 / 30)
    arrays["frame"] = np.array([0, 1.5, 0])
    np.savez(path, **arrays)
    assert main(["import-regressor", str(path), "--out", str(out)]) == 2
    assert "frame must hold whole numbers" in capsys.readouterr().err
    arrays["frame"] = np.array([0, 1])  # one short
    np.savez(path, **arrays)
    assert main(["import-regressor", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "h.npz" in err[-1]


def test_import_regressor_names_missing_keys(tmp_path, capsys):
    np.savez(tmp_path / "x.npz", is_right=np.ones(2))
    assert main(["import-regressor", str(tmp_path / "x.npz"), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "missing pred_mano_params.global_orient" in capsys.readouterr().err


def test_calibration_recovers_known_bone_lengths(tmp_path, capsys):
    from affordhand.data.records import write_records
    from affordhand.hand import skeleton
    from affordhand.hand.calibrate import load_skeleton

    rest, tips = skeleton.rest_joints()
    g = np.random.default_rng(42)
    factor = np.array([1.15, 0.85, 1.1, 0.9, 0.85])  # each finger of the "data set" is longer or shorter
    true_rest, true_tips = rest.copy(), tips.copy()
    for f in range(5):
        base = rest[1 + 3 * f]
        chain = np.concatenate([rest[1 + 3 * f : 4 + 3 * f], tips[f : f + 1]])
        scaled = base + factor[f] * (chain - base)
        true_rest[1 + 3 * f : 4 + 3 * f], true_tips[f] = scaled[:3], scaled[3]
    truth = BuiltinHand(true_rest, true_tips).double()
    recs = []
    for i in range(200):
        pose, orient = g.normal(0, 0.3, 45), g.normal(0, 1.0, 3)
        s = g.uniform(0.9, 1.1)
        j = truth(
            torch.as_tensor(orient)[None], torch.as_tensor(pose)[None], scale=torch.tensor([s], dtype=torch.float64)
        ).joints[0]
        recs.append({"id": str(i), "hand_pose": pose, "global_orient": orient, "joints3d": j.numpy() + [0, 0, 0.5]})
    write_records(tmp_path / "pairs.jsonl", recs)
    assert main(["calibrate", "--data", str(tmp_path / "pairs.jsonl"), "--out", str(tmp_path / "sk.json")]) == 0
    out = capsys.readouterr().out
    before, after = (float(x) for x in out.split("all")[1].split("\n")[0].replace("->", " ").split())
    assert before > 3.0 and after < 0.5
    fitted = load_skeleton(tmp_path / "sk.json").double()

    # Bone lengths relative to the hand size (scale is shared between skeleton and records).
    def lengths(h):
        j = h(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, 45, dtype=torch.float64)).joints[0]
        bones = torch.stack(
            [torch.linalg.norm(j[b] - j[b - 1]) for b in (2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20)]
        )
        return bones / torch.linalg.norm(j[9] - j[0])

    assert torch.allclose(lengths(fitted), lengths(truth), atol=0.01)


def test_train_reads_hograspnet_directly(hog_root, tmp_path):
    root, _ = hog_root
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                f"hograspnet:{root}",
                "--split",
                "s3",
                "--out",
                str(run),
                "--text-encoder",
                "none",
                "--steps",
                "5",
                "--batch",
                "8",
                "--checkpoint-every",
                "5",
                "--uncertainty",
                "none",
            ]
        )
        == 0
    )
    converted = read_records(run / "hograspnet_s3_train.jsonl").records
    assert converted and {r["object"] for r in converted} == {"mug"}
    assert (run / "model.safetensors").is_file()


def test_ho3d_skips_an_empty_or_truncated_pickle_and_converts_the_rest(tmp_path, capsys):
    meta = tmp_path / "train" / "SM1" / "meta"
    meta.mkdir(parents=True)
    (meta / "0000.pkl").write_bytes(b"")
    (meta / "0001.pkl").write_bytes(pickle.dumps({"handPose": np.zeros(48)})[:20])
    out = tmp_path / "o.jsonl"
    assert main(["convert", "ho3d", str(tmp_path), "--part", "train", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "skipped 2 broken files" in captured.out
    assert read_records(out).records == []


def test_python2_names_in_a_pickle_are_read_as_python3_spells_them_and_still_checked():
    from affordhand.data.safe_pickle import safe_loads

    assert safe_loads(b"\x80\x02c__builtin__\nobject\nq\x00.") is object  # HO3D's pickles are Python 2's
    assert safe_loads(b"\x80\x02ccopy_reg\n_reconstructor\nq\x00.").__name__ == "_reconstructor"
    with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.eval"):
        safe_loads(b"\x80\x02c__builtin__\neval\nq\x00.")
