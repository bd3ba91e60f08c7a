import numpy as np
import pytest
import roma
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from affordhand.hand import BuiltinHand, skeleton
from affordhand.hand.camera import default_intrinsics, project
from affordhand.hand.rotations import mirror_rotvec, rotvec_to_6d, sixd_to_rotvec

HAND = BuiltinHand()
# Bones as (parent, child) in OpenPose order.
BONES = [(0, 1), (1, 2), (2, 3), (3, 4)] + [(b, b + 1) for s in (5, 9, 13, 17) for b in (s, s + 1, s + 2)]
BONES += [(0, 5), (0, 9), (0, 13), (0, 17)]


def fk(orient, pose, **kw):
    return HAND(torch.as_tensor(orient, dtype=torch.float64), torch.as_tensor(pose, dtype=torch.float64), **kw).joints


def bone_lengths(j):
    return torch.stack([torch.linalg.norm(j[:, a] - j[:, b], dim=-1) for a, b in BONES], -1)


poses = st.lists(st.floats(-1.5, 1.5), min_size=48, max_size=48).map(lambda v: np.array(v).reshape(1, 48))


def test_flat_hand_points_along_minus_x_thumb_on_plus_z():
    j = fk(np.zeros((1, 3)), np.zeros((1, 45)))[0]
    assert j.shape == (21, 3)
    assert torch.allclose(j[0], torch.zeros(3, dtype=j.dtype))
    for tip in (8, 12, 16, 20):
        assert j[tip, 0] < -0.14  # fingertips far along -x
    assert j[4, 2] > 0.05 and j[4, 2] > j[8, 2]  # thumb on +z side
    assert j[5, 2] > j[9, 2] > j[13, 2] > j[17, 2]  # index ... pinky from +z to -z


def test_positive_z_flexes_fingers_toward_palm():
    pose = np.zeros((1, 15, 3))
    pose[0, [0, 3, 6, 9], 2] = 1.0  # MCP flexion of index, middle, pinky, ring: ~power grasp
    j = fk(np.zeros((1, 3)), pose.reshape(1, 45))[0]
    for mcp, pip in ((5, 6), (9, 10), (13, 14), (17, 18)):
        bone = j[pip] - j[mcp]
        assert bone[1] < -0.02  # toward the palm (-y)
        angle = torch.atan2(-bone[1], -bone[0])
        assert abs(float(angle) - 1.0) < 1e-6


def test_mano_joint_order_maps_to_openpose():
    pose = np.zeros((1, 15, 3))
    pose[0, 12, 2] = 0.5  # thumb1 (CMC) moves thumb MCP, IP, tip but not the CMC itself
    j0 = fk(np.zeros((1, 3)), np.zeros((1, 45)))[0]
    j1 = fk(np.zeros((1, 3)), pose.reshape(1, 45))[0]
    moved = (torch.linalg.norm(j1 - j0, dim=-1) > 1e-6).nonzero().flatten().tolist()
    assert moved == [2, 3, 4]
    pose = np.zeros((1, 15, 3))
    pose[0, 7, 2] = 0.5  # pinky2 (PIP) moves pinky DIP and tip only
    j1 = fk(np.zeros((1, 3)), pose.reshape(1, 45))[0]
    assert (torch.linalg.norm(j1 - j0, dim=-1) > 1e-6).nonzero().flatten().tolist() == [19, 20]


@settings(max_examples=30, deadline=None)
@given(poses)
def test_pose_keeps_bone_lengths(v):
    j0 = fk(np.zeros((1, 3)), np.zeros((1, 45)))
    j = fk(v[:, :3], v[:, 3:])
    assert torch.allclose(bone_lengths(j), bone_lengths(j0), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(poses)
def test_global_orient_rotates_about_the_wrist(v):
    orient = torch.as_tensor(v[:, :3])
    j_local = fk(np.zeros((1, 3)), v[:, 3:])
    j = fk(v[:, :3], v[:, 3:])
    R = roma.rotvec_to_rotmat(orient)
    assert torch.allclose(j, torch.einsum("bij,bnj->bni", R, j_local), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(poses)
def test_left_hand_is_the_right_hand_mirrored(v):
    orient, pose = torch.as_tensor(v[:, :3]), torch.as_tensor(v[:, 3:]).reshape(1, 15, 3)
    right = fk(orient, pose)
    left = fk(mirror_rotvec(orient), mirror_rotvec(pose), is_left=torch.tensor([True]))
    assert torch.allclose(left, right * torch.tensor([-1.0, 1.0, 1.0], dtype=right.dtype), atol=1e-9)


def test_mixed_sides_scale_and_translation_in_one_batch():
    rng = np.random.default_rng(0)
    orient, pose = rng.normal(0, 0.5, (2, 3)), rng.normal(0, 0.3, (2, 45))
    transl = torch.tensor([[0.1, 0.0, 0.5], [0.0, 0.2, 0.6]], dtype=torch.float64)
    scale = torch.tensor([1.0, 0.8], dtype=torch.float64)
    both = fk(orient, pose, transl=transl, scale=scale, is_left=torch.tensor([False, True]))
    right = fk(orient[:1], pose[:1]) + transl[:1, None]
    left = 0.8 * fk(orient[1:], pose[1:], is_left=torch.tensor([True])) + transl[1:, None]
    assert torch.allclose(both[:1], right) and torch.allclose(both[1:], left)


def test_forward_kinematics_is_differentiable():
    orient = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    pose = (0.2 * torch.ones(1, 45, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda o, p: HAND(o, p).joints, (orient, pose))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_forward_kinematics_on_cuda_matches_cpu():
    pose = torch.randn(4, 45) * 0.3
    orient = torch.randn(4, 3)
    cpu = HAND(orient, pose).joints
    gpu = BuiltinHand().cuda()(orient.cuda(), pose.cuda()).joints.cpu()
    assert torch.allclose(cpu, gpu, atol=1e-5)


def test_joint_limits_contain_the_flat_hand_and_exclude_hyperflexion():
    limits = skeleton.joint_limits()
    assert limits.shape == (15, 3, 2)
    assert np.all(limits[..., 0] < 0) and np.all(limits[..., 1] > 0)  # zero pose is inside
    assert np.all(limits[[0, 3, 6, 9], 0, 1] < 2.0)  # MCP flexion capped below 115 degrees
    axes = skeleton.joint_axes()
    assert np.allclose(np.einsum("jab,jcb->jac", axes, axes), np.eye(3), atol=1e-9)  # orthonormal rows
    assert np.allclose(np.linalg.det(axes), 1.0)  # right-handed


def test_the_thumb_opposes_at_its_base_and_folds_across_the_palm_at_its_other_joints():
    """Carpometacarpal flexion brings the thumb in front of the palm (-y); flexion of its MCP and IP joints
    folds it across the palm toward the little finger (-z) and hardly out of the palm's plane."""
    rest = HAND(torch.zeros(1, 3), torch.zeros(1, 45)).joints[0]

    def tip_moves(joint: int) -> torch.Tensor:
        angles = np.zeros((1, 15, 3))
        angles[0, joint, 0] = 0.6
        pose = torch.as_tensor(skeleton.angles_to_pose(angles), dtype=torch.float32)
        return HAND(torch.zeros(1, 3), pose).joints[0, 4] - rest[4]  # the thumb's tip (OpenPose 4)

    base, mcp, ip = (tip_moves(j) for j in (12, 13, 14))
    assert base[1] < -0.01 and abs(base[1]) > abs(base[2])  # mostly toward the palm's front
    for move in (mcp, ip):
        assert move[2] < -0.005 and abs(move[1]) < 0.5 * abs(move[2])  # across, in the palm's plane


def test_rotation_6d_round_trip():
    r = roma.random_rotvec(64, dtype=torch.float64)
    assert torch.allclose(roma.rotvec_to_rotmat(sixd_to_rotvec(rotvec_to_6d(r))), roma.rotvec_to_rotmat(r), atol=1e-9)


def test_projection_of_a_point_on_the_axis_lands_on_the_principal_point():
    K = default_intrinsics(640, 480, 60.0)[None]
    pts = torch.tensor([[[0.0, 0.0, 0.5], [0.1, -0.05, 0.5]]])
    uv = project(pts, K)
    assert torch.allclose(uv[0, 0], torch.tensor([320.0, 240.0]))
    f = float(K[0, 0, 0])
    assert torch.allclose(uv[0, 1], torch.tensor([320 + f * 0.2, 240 - f * 0.1]))


def test_a_joint_on_its_limit_is_within_it_and_one_past_it_is_not():
    """A grasp closed onto a joint limit sits on it; float32 storage must not make that a violation."""
    import numpy as np

    from affordhand.hand.skeleton import angles_to_pose, joint_limits, limit_violations

    angles = np.zeros((3, 15, 3))
    angles[:, 0, 0] = joint_limits()[0, 0, 1]  # the index MCP flexed to its limit
    angles[1, 0, 0] += 1e-6
    angles[2, 0, 0] += 0.05
    pose = angles_to_pose(angles).astype(np.float32).astype(np.float64)
    assert limit_violations(pose).tolist() == [0, 0, 1]
