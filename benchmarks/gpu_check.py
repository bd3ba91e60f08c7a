"""GPU check: CUDA matches CPU for forward kinematics and guided refinement; refinement speed on the GPU.

    python benchmarks/gpu_check.py        (needs a CUDA device; no text encoder: random unit embeddings
                                            stand in for sentences, which costs the same as real ones)

Speed covers what `affordhand refine --mode affordance` does per batch: the global fit and the guided
refinement with the default settings (4 samples, classifier-free guidance).
"""

import tempfile
import time

import torch

from affordhand.data.records import read_records
from affordhand.hand import BuiltinHand
from affordhand.prior.model import load_prior
from affordhand.refinement.batch import batch_from_records
from affordhand.refinement.fit import fit_global
from affordhand.refinement.guided import refine_guided
from affordhand.refinement.pipeline import record_seed
from affordhand.refinement.settings import FitConfig, GuidedConfig
from affordhand.synth.dataset import SynthConfig, build

print("torch", torch.__version__, torch.cuda.get_device_name())
tmp = tempfile.mkdtemp()
build(SynthConfig(n=3000, seed=7, occlusion="medium"), tmp)
recs = read_records(f"{tmp}/test_init.jsonl").records
print("hands", len(recs))
g = torch.Generator().manual_seed(0)
cond_all = torch.nn.functional.normalize(torch.randn(len(recs), 384, generator=g), dim=1)


def run(records, cond, device, prior, hand):
    b = batch_from_records(records).to(device)
    seeds = torch.as_tensor([record_seed(r["id"], 0) for r in records])
    fitted = fit_global(hand, b, FitConfig())
    has = torch.ones(len(records), dtype=torch.bool, device=device)
    res = refine_guided(prior, hand, fitted, cond.to(device), has, GuidedConfig(), seeds)
    return fitted.joints(hand, res.pose_r)


hc, hg = BuiltinHand(), BuiltinHand().cuda()
pc, pg = load_prior("default"), load_prior("default", "cuda")
pose = torch.randn(64, 45) * 0.3
orient = torch.randn(64, 3)
print(
    "FK max |cpu-cuda| m:", float((hc(orient, pose).joints - hg(orient.cuda(), pose.cuda()).joints.cpu()).abs().max())
)
jc = run(recs[:32], cond_all[:32], "cpu", pc, hc)
jg = run(recs[:32], cond_all[:32], "cuda", pg, hg).cpu()
print("refine mean |cpu-cuda| mm:", float(1000 * (jc - jg).norm(dim=-1).mean()))
for B in (1, 64, 512, 2048):
    sub = (recs * (B // len(recs) + 1))[:B]
    run(sub, cond_all[:B] if B <= len(recs) else cond_all[torch.arange(B) % len(recs)], "cuda", pg, hg)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        run(sub, cond_all[torch.arange(B) % len(recs)], "cuda", pg, hg)
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / reps
    print(f"cuda batch {B}: {dt:.3f} s, {B / dt:.0f} hands/s (global fit + guided refinement, 4 samples, CFG)")
