"""The built-in hand's license-free surface (hand/surface.py): a closed, genus-0 mesh whose volume is the
implicit surface's, posed by skinning that keeps it closed and keeps its volume at the joint limits."""

import numpy as np
import pytest
import torch

pytest.importorskip("skimage")
trimesh = pytest.importorskip("trimesh")

from affordhand.hand import BuiltinHand, skeleton  # noqa: E402
from affordhand.hand.surface import (  # noqa: E402
    BLEND,
    _part_distances,
    _smooth_min,
    hand_mesh,
    rest_surface,
)

HAND = BuiltinHand()


@pytest.fixture(scope="module")
def rest():
    return rest_surface(*skeleton.rest_joints())


def _limit_pose(component: int, bound: int) -> torch.Tensor:
    """Return (1, 45): every finger joint at one end (bound 0: lower, 1: upper) of one anatomical angle."""
    angles = np.zeros((1, 15, 3))
    angles[..., component] = skeleton.joint_limits()[None, :, component, bound]
    return torch.as_tensor(skeleton.angles_to_pose(angles), dtype=torch.float32)


def test_the_rest_surface_is_one_closed_genus_zero_body_of_hand_volume(rest):
    mesh = trimesh.Trimesh(rest.vertices, rest.faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.is_volume
    assert mesh.euler_number == 2  # a sphere's topology: no handles, no second shell
    assert len(mesh.split(only_watertight=False)) == 1
    assert 250e-6 < mesh.volume < 500e-6  # m^3: an adult hand with its wrist is about 400 ml


@pytest.mark.slow
def test_the_mesh_encloses_exactly_the_implicit_surface(rest):
    """A folded or self-intersecting mesh would enclose a volume other than the inside of the implicit
    surface it was made from; here the two agree to 1 %, counted on an independent 1 mm grid."""
    low, high = rest.vertices.min(0) - 0.004, rest.vertices.max(0) + 0.004
    axes = [np.arange(a, b, 0.001) for a, b in zip(low, high)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    rest_joints, tips = skeleton.rest_joints()
    inside = (_smooth_min(_part_distances(grid, rest_joints, tips)[0], BLEND) < 0).sum() * 1e-9
    volume = trimesh.Trimesh(rest.vertices, rest.faces, process=False).volume
    assert volume == pytest.approx(inside, rel=0.01)


def test_rest_pose_vertices_lie_on_the_skinned_surface(rest):
    (vertices, faces), *_ = hand_mesh(HAND, torch.zeros(1, 3), torch.zeros(1, 45))
    np.testing.assert_allclose(vertices, rest.vertices, atol=1e-6)  # the hand keeps its skeleton in float32
    np.testing.assert_array_equal(faces, rest.faces)
    np.testing.assert_allclose(rest.weights.sum(1), 1.0, atol=1e-9)


@pytest.mark.parametrize("component,bound", [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1)])
@pytest.mark.parametrize("left", [False, True])
def test_at_the_joint_limits_the_hand_stays_closed_and_keeps_its_volume(rest, component, bound, left):
    rest_volume = trimesh.Trimesh(rest.vertices, rest.faces, process=False).volume
    pose, side = _limit_pose(component, bound), torch.tensor([left])
    (vertices, faces), *_ = hand_mesh(HAND, torch.zeros(1, 3), pose, is_left=side)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert mesh.is_volume  # closed, consistently wound, normals outward (mirrored hands too)
    assert 0.8 < mesh.volume / rest_volume < 1.05  # linear blend skinning loses little at full flexion


def test_the_surface_follows_the_skeleton_through_any_global_pose(rest):
    """Fingertip flesh stays at the fingertips: each tip's nearest vertex is within the tip's radius,
    under a random orientation, scale, translation and finger pose, for either side."""
    g = torch.Generator().manual_seed(0)
    orient, pose = torch.randn(4, 3, generator=g), 0.3 * torch.randn(4, 45, generator=g)
    transl, scale = torch.randn(4, 3, generator=g) * 0.1, 1 + 0.1 * torch.rand(4, generator=g)
    left = torch.tensor([False, True, False, True])
    joints = HAND(orient, pose, transl=transl, scale=scale, is_left=left).joints.numpy()
    for (vertices, _), hand_joints in zip(hand_mesh(HAND, orient, pose, transl, scale, left), joints):
        for tip in (4, 8, 12, 16, 20):
            assert np.linalg.norm(vertices - hand_joints[tip], axis=1).min() < 0.01


def test_a_hand_with_its_own_proportions_wears_the_built_in_surface_on_its_own_joints(rest):
    """A photo's own skeleton (joints moved a few mm) is skinned on the surface made once for the built-in
    one; its fingertips stay inside their flesh."""
    g = torch.Generator().manual_seed(1)
    offsets = (torch.rand(21, 3, generator=g) - 0.5) * 0.008  # up to 4 mm per axis
    offsets[0] = 0
    own = BuiltinHand((HAND.rest + offsets[:16]).numpy(), (HAND.tips + offsets[16:]).numpy())
    pose = 0.3 * torch.rand(1, 45, generator=g)
    (vertices, faces), *_ = hand_mesh(own, torch.zeros(1, 3), pose)
    np.testing.assert_array_equal(faces, rest.faces)  # the built-in surface, not one made for this hand
    joints = own(torch.zeros(1, 3), pose).joints[0].numpy()
    for tip in (4, 8, 12, 16, 20):
        assert np.linalg.norm(vertices - joints[tip], axis=1).min() < 0.01
    assert trimesh.Trimesh(vertices, faces, process=False).is_volume
