import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from affordhand.errors import AffordhandError
from affordhand.hand import load_hand_model
from affordhand.hand.mano import load_mano_data

V = 778


class _FakeCh:  # pickled under the name chumpy.ch.Ch, like the arrays inside real MANO files
    def __init__(self, x):
        self.x = x


def _fake_mano(rng, path):
    fake_chumpy = types.ModuleType("chumpy")
    fake_ch = types.ModuleType("chumpy.ch")
    fake_ch.Ch = _FakeCh
    _FakeCh.__module__, _FakeCh.__qualname__ = "chumpy.ch", "Ch"
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = fake_chumpy, fake_ch
    try:
        parents = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
        kintree = np.array([[4294967295] + parents[1:], list(range(16))], dtype=np.int64)
        J_reg = np.zeros((16, V))
        for j in range(16):
            J_reg[j, rng.choice(V, 4, replace=False)] = 0.25
        weights = rng.random((V, 16))
        data = {
            "v_template": rng.normal(0, 0.05, (V, 3)),
            "shapedirs": _FakeCh(rng.normal(0, 1e-3, (V, 3, 10))),
            "posedirs": rng.normal(0, 1e-4, (V, 3, 135)),
            "J_regressor": scipy.sparse.csc_matrix(J_reg),
            "weights": weights / weights.sum(1, keepdims=True),
            "kintree_table": kintree,
            "f": rng.integers(0, V, (1538, 3)).astype(np.uint32),
            "hands_components": np.eye(45),
            "hands_mean": rng.normal(0, 0.1, 45),
        }
        path.write_bytes(pickle.dumps(data, protocol=2))
        return data, J_reg
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


@pytest.fixture()
def mano_dir(tmp_path):
    rng = np.random.default_rng(0)
    right, J_reg = _fake_mano(rng, tmp_path / "MANO_RIGHT.pkl")
    _fake_mano(np.random.default_rng(1), tmp_path / "MANO_LEFT.pkl")
    return tmp_path, right, J_reg


def test_fake_mano_loads_and_gives_regressed_joints_at_rest(mano_dir):
    folder, data, J_reg = mano_dir
    hand = load_hand_model("mano", folder)
    out = hand(torch.zeros(1, 3), torch.zeros(1, 45))
    assert out.joints.shape == (1, 21, 3) and out.vertices.shape == (1, V, 3)
    rest16 = J_reg @ data["v_template"]
    # OpenPose index MCP (5) is MANO joint 1, relative to the wrist (MANO joint 0).
    assert np.allclose(out.joints[0, 5].numpy(), rest16[1] - rest16[0], atol=1e-5)
    assert np.allclose(out.joints[0, 4].numpy(), data["v_template"][744] - rest16[0], atol=1e-5)
    assert out.faces.shape == (1538, 3)


def test_mano_left_and_translation(mano_dir):
    folder, _, _ = mano_dir
    hand = load_hand_model("mano", folder)
    pose = torch.randn(2, 45) * 0.2
    t = torch.tensor([[0.0, 0.0, 0.5], [0.1, 0.0, 0.4]])
    out = hand(torch.zeros(2, 3), pose, transl=t, is_left=torch.tensor([False, True]))
    assert torch.allclose(out.joints[:, 0], t, atol=1e-6)  # transl is the wrist position


def test_missing_mano_folder_says_what_to_download(tmp_path):
    with pytest.raises(AffordhandError, match="mano.is.tue.mpg.de"):
        load_hand_model("mano", tmp_path / "nowhere")
    with pytest.raises(AffordhandError, match="MANO_RIGHT.pkl"):
        load_hand_model("mano", tmp_path)


def test_wrong_file_is_refused_with_a_clear_message(tmp_path):
    (tmp_path / "MANO_RIGHT.pkl").write_bytes(pickle.dumps({"something": np.zeros(3)}))
    with pytest.raises(AffordhandError, match="missing v_template"):
        load_mano_data(tmp_path / "MANO_RIGHT.pkl")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_malicious_pickle_is_refused_without_running_it(tmp_path, capsys):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Evil()}))
    with pytest.raises(AffordhandError, match="refusing to load builtins.print"):
        load_mano_data(path)
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.parametrize("data", [b"cscipy.sparse_evil\ncsc_matrix\n.", b"", b"\x80\x02}q\x00"])
def test_a_look_alike_module_or_a_broken_file_is_a_clear_error(tmp_path, data):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(data)
    with pytest.raises(AffordhandError):
        load_mano_data(path)


def test_a_sparse_matrix_declaring_a_huge_shape_is_refused_before_it_is_densified(tmp_path):
    data = {
        k: np.zeros(1)
        for k in (
            "v_template",
            "shapedirs",
            "posedirs",
            "weights",
            "kintree_table",
            "f",
            "hands_components",
            "hands_mean",
        )
    }
    data["J_regressor"] = scipy.sparse.csc_matrix(([1.0], ([0], [0])), shape=(10**6, 10**6))  # 4 MB; 7 TiB dense
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(AffordhandError, match="not a MANO array"):
        load_mano_data(path)


def test_refinement_on_mano_works_in_the_priors_convention_and_writes_manos(mano_dir, tmp_path, synth_set):
    """With --hand-model mano and a prior of the built-in skeleton, refinement poses MANO through poses of the
    prior's convention (hand/convention.py: ConventionHand), and writes hand_pose in MANO's own: the record's
    joints are MANO's joints for that pose, left hands included."""
    from affordhand.data.records import read_records
    from affordhand.hand import BuiltinHand
    from affordhand.hand.convention import ConventionHand, matched_convention
    from affordhand.hand.rotations import mirror_where
    from affordhand.prior.config import PriorConfig
    from affordhand.prior.model import Prior
    from affordhand.refinement.pipeline import RefineConfig, refine_batch
    from affordhand.refinement.settings import GuidedConfig

    folder, _, _ = mano_dir
    hand = load_hand_model("mano", folder)
    builtin = (BuiltinHand().rest, BuiltinHand().tips)  # the shipped prior's skeleton
    convention = matched_convention(hand, *builtin)
    assert isinstance(convention.hand, ConventionHand)  # MANO's bones point elsewhere than the built-in's
    pose = 0.3 * torch.randn(3, 45, generator=torch.Generator().manual_seed(0))
    left = torch.tensor([False, True, False])
    orient = torch.zeros(3, 3)
    mirrored = mirror_where(pose.reshape(3, 15, 3), left).reshape(3, 45)
    wrapped = convention.hand(orient, mirror_where(convention.to_prior(pose).reshape(3, 15, 3), left), is_left=left)
    torch.testing.assert_close(wrapped.joints, hand(orient, mirrored, is_left=left).joints, atol=1e-5, rtol=0)

    data = synth_set(n=40, seed=3, occlusion="medium")
    records = read_records(data / "test_init.jsonl").records[:4]
    prior = Prior(PriorConfig(conditions=["text"], text_encoder="none", text_dim=0, cond_dim=0, width=32, depth=1))
    prior.eval().pose_skeleton = builtin
    config = RefineConfig(mode="uncond", guided=GuidedConfig(steps=10, samples=2))
    for rec in refine_batch(records, config, hand, prior):
        side = torch.tensor([rec["side"] == "left"])
        as_tensor = lambda key: torch.as_tensor(rec[key], dtype=torch.float32)[None]
        joints = hand(
            as_tensor("global_orient"),
            as_tensor("hand_pose"),
            transl=as_tensor("transl"),
            scale=torch.tensor([rec["scale"]]),
            is_left=side,
        ).joints[0]
        np.testing.assert_allclose(joints.detach().numpy(), rec["joints3d"], atol=1e-5)
