import json
import subprocess
import sys

import pytest
import torch

from affordhand.errors import AffordhandError
from affordhand.prior.config import PriorConfig
from affordhand.prior.model import Prior, load_prior
from affordhand.prior.sampling import ddim_invert, denoiser, guided_output, sample_ddim
from affordhand.prior.schedule import Schedule
from affordhand.prior.train import train


@pytest.fixture(scope="module")
def data_dir(synth_data):
    return synth_data


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["eps", "x0"])
def test_perfect_denoiser_recovers_x0(kind, prediction):
    sched = Schedule(1000, kind, prediction, clip_x0=0)
    x0, noise = torch.randn(64, 45, dtype=torch.float64), torch.randn(64, 45, dtype=torch.float64)
    t = torch.randint(0, 1000, (64,))
    x_t = sched.q_sample(x0, t, noise)
    out = noise if prediction == "eps" else x0  # what a perfect network outputs
    eps, x0_hat = sched.split(x_t, t, out)
    assert torch.allclose(x0_hat, x0, atol=1e-6) and torch.allclose(eps, noise, atol=1e-6)
    assert sched.alpha_bar[0] > 0.99 and sched.alpha_bar[-1] < 1e-3


class _GaussianPrior:
    """Stand-in whose network is the exact noise predictor for data from N(0, s^2 I), s = 0.5."""

    s2 = 0.25

    def __init__(self):
        self.schedule = Schedule(1000, "cosine", "eps", clip_x0=0)

    def output(self, x, t, cond=None, has_cond=None):
        ab = self.schedule.alpha_bar[t].to(x.dtype)[:, None]
        x0 = ab.sqrt() * self.s2 * x / (ab * self.s2 + 1 - ab)  # E[x0 | x_t]
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()


def test_ddim_inversion_round_trip():
    prior = _GaussianPrior()
    denoise = denoiser(prior.schedule, lambda x, t: prior.output(x, t))
    x0 = 0.5 * torch.randn(32, 45, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    up = prior.schedule.timesteps(100, 400)[::-1]
    x_t = ddim_invert(prior.schedule, denoise, x0, up)
    assert not torch.allclose(x_t, x0, atol=1e-2)
    back = sample_ddim(prior.schedule, denoise, x_t, up[::-1])
    # 100 steps leave a scale error of about 1 % (the discretisation's, the same for every value): relative
    # tolerance, so that a large draw of x0 does not fail it (unseeded, this failed on a draw beyond 2)
    assert torch.allclose(back, x0, rtol=2e-2, atol=1e-3)


def test_cfg_scale_zero_is_unconditional_and_one_is_conditional():
    torch.manual_seed(0)
    prior = Prior(PriorConfig(cond_dim=8, width=32, depth=2, emb=32))
    for p in prior.parameters():  # non-trivial weights everywhere (the last layers start at zero)
        torch.nn.init.normal_(p, std=0.2)
    x, t = torch.randn(5, 45), torch.randint(0, 1000, (5,))
    cond, has = torch.randn(5, 8), torch.tensor([True, True, False, True, True])
    uncond = prior.output(x, t, cond, torch.zeros(5, dtype=torch.bool))
    assert torch.allclose(guided_output(prior, cond, has, 0.0)(x, t), uncond, atol=1e-6)
    cond_out = prior.output(x, t, cond, has)
    assert torch.allclose(guided_output(prior, cond, has, 1.0)(x, t), cond_out, atol=1e-5)
    two_pass = torch.where(has[:, None], uncond + 1.0 * (cond_out - uncond), uncond)  # the general formula
    assert torch.allclose(guided_output(prior, cond, has, 1.0)(x, t), two_pass, atol=1e-5)
    assert torch.allclose(
        guided_output(prior, cond, has, 1.5)(x, t),
        torch.where(has[:, None], uncond + 1.5 * (cond_out - uncond), uncond),
        atol=1e-5,
    )
    assert not torch.allclose(cond_out[has], uncond[has], atol=1e-3)


def test_checkpoint_round_trip(tmp_path):
    prior = Prior(PriorConfig(cond_dim=8, width=32, depth=2, emb=32, mean=[0.1] * 45, std=[0.01] * 45))
    prior.save(tmp_path)
    back = load_prior(tmp_path)
    for (k, a), (_, b) in zip(prior.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    assert float(back.std.min()) == pytest.approx(0.15)  # std floor applied


def test_bad_prior_folder_is_a_clear_error(tmp_path):
    with pytest.raises(AffordhandError, match="expected config.json"):
        load_prior(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(AffordhandError, match="not a readable safetensors"):
        load_prior(tmp_path)


def _small(**kw):
    base = dict(text_encoder="none", steps=40, batch=32, width=32, depth=2, emb=32, checkpoint_every=20)
    base.update(kw)
    return PriorConfig(**base)


def test_missing_training_file_is_a_clear_error(tmp_path):
    with pytest.raises(AffordhandError, match="no such file"):
        train(_small(), str(tmp_path / "nope.jsonl"), tmp_path / "run", quiet=True)


@pytest.mark.slow
def test_resume_continues_exactly_where_it_stopped(data_dir, tmp_path):
    full = train(_small(), str(data_dir / "train.jsonl"), tmp_path / "full", quiet=True)
    train(_small(steps=20), str(data_dir / "train.jsonl"), tmp_path / "split", quiet=True)
    resumed = train(_small(), str(data_dir / "train.jsonl"), tmp_path / "split", quiet=True)
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), k
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [20, 40]


def test_a_resume_under_other_settings_is_refused_and_restart_starts_over(data_dir, tmp_path):
    train(_small(steps=20), str(data_dir / "train.jsonl"), tmp_path / "run", quiet=True)
    for changed in ({"lr": 5e-4}, {"field_drop": 0.1}, {"conditions": ["text"]}):
        with pytest.raises(AffordhandError, match=f"{next(iter(changed))}=.*--restart"):
            train(_small(**changed), str(data_dir / "train.jsonl"), tmp_path / "run", quiet=True)
    train(_small(steps=20, lr=5e-4), str(data_dir / "train.jsonl"), tmp_path / "run", quiet=True, restart=True)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["lr"] == 5e-4
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [20]


@pytest.mark.slow
def test_resume_after_kill_9(data_dir, tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "affordhand",
        "train",
        "--data",
        str(data_dir / "train.jsonl"),
        "--out",
        str(run),
        "--text-encoder",
        "none",
        "--steps",
        "100000",
        "--batch",
        "16",
        "--checkpoint-every",
        "5",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if (run / "metrics.jsonl").exists() and len((run / "metrics.jsonl").read_text().splitlines()) >= 3:
                break
            proc.wait(timeout=0.1) if proc.poll() is not None else __import__("time").sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    assert (run / "checkpoint.safetensors").is_file()
    load_prior(run)  # the exported weights are whole
    cmd[cmd.index("100000")] = "200"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 200 and steps == sorted(set(steps))


def test_trained_prior_samples_near_the_data(data_dir, tmp_path):
    from affordhand.prior.generate import sample_poses
    from affordhand.prior.train import load_training_poses

    prior = train(_small(steps=400, batch=64), str(data_dir / "train.jsonl"), tmp_path, quiet=True)
    poses, _, _ = load_training_poses(data_dir / "train.jsonl")
    samples = sample_poses(prior, [None] * 256, steps=25, seed=0)
    assert torch.isfinite(samples).all()
    # The sample mean lies much nearer the data mean than a draw from the untrained N(0, 1) would.
    assert float((samples.mean(0) - poses.mean(0)).abs().mean()) < 0.1


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(data_dir, tmp_path):
    import shutil

    from safetensors.torch import load_file

    args = [
        "train",
        "--data",
        str(data_dir / "train.jsonl"),
        "--text-encoder",
        "none",
        "--steps",
        "20",
        "--batch",
        "32",
        "--checkpoint-every",
        "10",
        "--uncertainty",
        "none",
    ]
    one = subprocess.run(
        [sys.executable, "-m", "affordhand", *args, "--out", str(tmp_path / "one")], capture_output=True, text=True
    )
    assert one.returncode == 0, one.stderr
    torchrun = shutil.which("torchrun", path=str(__import__("pathlib").Path(sys.executable).parent))
    two = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "affordhand", *args, "--out", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = (
        load_file(str(tmp_path / "one" / "model.safetensors")),
        load_file(str(tmp_path / "two" / "model.safetensors")),
    )
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key


@pytest.mark.parametrize("representation, architecture", [("6d", "mlp"), ("axis_angle", "transformer")])
def test_other_representation_and_architecture_train_and_sample(data_dir, tmp_path, representation, architecture):
    from affordhand.prior.generate import sample_poses

    prior = train(
        _small(steps=20, representation=representation, architecture=architecture),
        str(data_dir / "train.jsonl"),
        tmp_path,
        quiet=True,
    )
    assert prior.config.pose_dim == (90 if representation == "6d" else 45)
    poses = torch.randn(5, 45) * 0.3
    assert torch.allclose(prior.decode_pose(prior.encode_pose(poses)), poses, atol=1e-4)
    back = load_prior(tmp_path)
    samples = sample_poses(back, [None] * 4, steps=5)
    assert samples.shape == (4, 45) and torch.isfinite(samples).all()


@pytest.mark.parametrize("architecture", ["mlp", "transformer"])
def test_one_condition_row_per_hand_gives_the_per_sample_output(architecture):
    """The K samples of a hand share its condition: computing it once per hand changes nothing but time."""
    torch.manual_seed(0)
    prior = Prior(PriorConfig(cond_dim=8, width=32, depth=2, emb=32, architecture=architecture))
    for p in prior.parameters():
        torch.nn.init.normal_(p, std=0.2)
    B, K = 3, 4
    x, cond = torch.randn(B * K, 45), torch.randn(B, 8)
    has = torch.tensor([True, False, True])
    for t in (torch.full((B * K,), 321), torch.arange(B).repeat_interleave(K) * 100):
        rows = prior.output(x, t, cond.repeat_interleave(K, 0), has.repeat_interleave(K, 0))
        assert torch.allclose(prior.output(x, t, cond, has, repeats=K), rows, atol=1e-5)
        assert torch.allclose(
            guided_output(prior, cond, has, 2.0, repeats=K)(x, t),
            guided_output(prior, cond.repeat_interleave(K, 0), has.repeat_interleave(K, 0), 2.0)(x, t),
            atol=1e-5,
        )


def test_training_that_diverges_stops_and_keeps_the_last_good_checkpoint(data_dir, tmp_path, monkeypatch):
    import affordhand.prior.train as training

    run, data = tmp_path / "run", str(data_dir / "train.jsonl")
    train(_small(steps=20), data, run, quiet=True)
    good = {name: (run / name).read_bytes() for name in ("model.safetensors", "checkpoint.safetensors")}
    real_loss = training._loss
    monkeypatch.setattr(training, "_loss", lambda *a, **k: real_loss(*a, **k) * float("nan"))
    with pytest.raises(AffordhandError, match="training diverged: the loss is nan at step 21"):
        train(_small(), data, run, quiet=True)
    assert {name: (run / name).read_bytes() for name in good} == good
    monkeypatch.setattr(training, "_loss", real_loss)
    train(_small(), data, run, quiet=True)  # resumes from the last good checkpoint


def test_one_record_is_refused_and_so_are_non_finite_rates(data_dir, tmp_path):
    one = tmp_path / "one.jsonl"
    one.write_text((data_dir / "train.jsonl").read_text().splitlines()[0] + "\n")
    with pytest.raises(AffordhandError, match="1 records; a prior needs at least 2"):
        train(_small(), str(one), tmp_path / "run", quiet=True)
    for bad in ({"lr": float("inf")}, {"lr": float("nan")}, {"weight_decay": float("nan")}):
        with pytest.raises(AffordhandError, match="must be"):
            _small(**bad)


def test_a_torn_log_a_torn_checkpoint_and_a_lost_config_are_resumed_or_one_line_errors(data_dir, tmp_path):
    run, data = tmp_path / "run", str(data_dir / "train.jsonl")
    train(_small(steps=20), data, run, quiet=True)
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 25, "lo')  # a crash tore the last line
    train(_small(), data, run, quiet=True)  # resumes past the torn line
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [20, 40]
    (run / "checkpoint.safetensors").write_bytes((run / "checkpoint.safetensors").read_bytes()[:500])
    with pytest.raises(AffordhandError, match="not a readable checkpoint.*--restart"):
        train(_small(steps=60), data, run, quiet=True)
    (run / "config.json").unlink()
    with pytest.raises(AffordhandError, match="no readable config.json.*--restart"):
        train(_small(steps=60), data, run, quiet=True)
    train(_small(steps=20), data, run, quiet=True, restart=True)
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [20]


def test_a_run_folder_is_owned_by_one_process(tmp_path):
    from affordhand.data.atomic import folder_lock

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".model.safetensors.abc.tmp").write_bytes(b"x" * 1000)  # left by a killed process
    with folder_lock(tmp_path / "run", "train"):
        assert not list((tmp_path / "run").glob(".*.tmp"))
        with pytest.raises(AffordhandError, match="being written by another affordhand process"):
            with folder_lock(tmp_path / "run", "train"):
                pass
    with folder_lock(tmp_path / "run", "train"):  # released
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(AffordhandError, match="is a file"):
        with folder_lock(tmp_path / "file", "export-prior"):
            pass
