import numpy as np
import roma
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import orthogonal_procrustes

from affordhand.eval import metrics


def _hands(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.05 * torch.randn(n, 21, 3, generator=g, dtype=torch.float64)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.3, 3.0), shift=st.floats(-1, 1))
def test_similarity_copy_has_zero_pa_mpjpe(seed, scale, shift):
    gt = _hands(4, seed)
    R = roma.random_rotmat(4, dtype=torch.float64)
    pred = scale * torch.einsum("nij,nkj->nki", R, gt) + shift
    assert metrics.pa_joint_errors_mm(pred, gt).max() < 1e-6


def test_pa_alignment_matches_scipy_orthogonal_procrustes():
    gt, pred = _hands(1, 1)[0].numpy(), _hands(1, 2)[0].numpy()
    # Independent similarity Procrustes with scipy: centre, rotate, scale.
    mu_p, mu_g = pred.mean(0), gt.mean(0)
    P, G = pred - mu_p, gt - mu_g
    R, sigma = orthogonal_procrustes(P, G)
    if np.linalg.det(R) < 0:  # scipy allows reflections; a hand may not be mirrored
        U, S, Vt = np.linalg.svd(P.T @ G)
        D = np.diag([1, 1, -1])
        R, sigma = U @ D @ Vt, (S * np.diag(D)).sum()
    s = sigma / (P**2).sum()
    expected = 1000 * np.linalg.norm(s * P @ R + mu_g - gt, axis=-1)
    ours = metrics.pa_joint_errors_mm(torch.as_tensor(pred)[None], torch.as_tensor(gt)[None])[0].numpy()
    assert np.allclose(ours, expected, atol=1e-6)


def test_mpjpe_is_root_relative_and_in_mm():
    gt = torch.zeros(1, 21, 3, dtype=torch.float64)
    pred = gt.clone()
    pred[:, :, 0] += 0.5  # a global shift is no error
    pred[0, 8, 1] += 0.021  # 21 mm on one joint
    err = metrics.joint_errors_mm(pred, gt)
    assert abs(float(err[0, 8]) - 21.0) < 1e-9 and float(err.sum()) - 21.0 < 1e-9
    assert abs(metrics.masked_mean(err) - 1.0) < 1e-9  # 21 mm over 21 joints


def test_visible_and_occluded_split_and_auc():
    gt = _hands(2)
    pred = gt.clone()
    pred[:, 20] += torch.tensor([0.0, 0.01, 0.0], dtype=gt.dtype)  # 10 mm on the pinky tip
    visible = torch.ones(2, 21, dtype=torch.bool)
    visible[:, 20] = False
    m = metrics.summarize(pred, gt, visible)
    assert abs(m["mpjpe_occluded"] - 10.0) < 1e-9 and m["mpjpe_visible"] == 0.0
    assert m["count"] == 2
    assert metrics.auc(torch.zeros(10)) == 1.0
    assert metrics.auc(torch.full((10,), 60.0)) == 0.0
    assert abs(metrics.auc(torch.full((10,), 25.0)) - 0.5) < 0.01
    nan = metrics.summarize(pred, gt, torch.ones(2, 21, dtype=torch.bool))["mpjpe_occluded"]
    assert nan != nan  # no occluded joints: undefined, not 0
