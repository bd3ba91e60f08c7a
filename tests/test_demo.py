import pytest

from affordhand.cli import main
from affordhand.data.records import read_records


@pytest.mark.slow
def test_demo_refines_held_out_objects_in_all_modes(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for label in ("init (regressor)", "fit (2D fitting)", "uncond (prior, no text)", "affordance (prior + text)"):
        assert label in out
    for mode in ("none", "fit", "uncond", "affordance"):
        recs = read_records(tmp_path / f"refined_{mode}.jsonl").records
        assert recs and all(r["refine_mode"] == mode for r in recs)
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert "<table>" in (tmp_path / "summary.html").read_text()


def test_sample_writes_records_and_a_figure(tmp_path):
    out = tmp_path / "s.jsonl"
    assert (
        main(
            [
                "sample",
                "--text",
                "A right hand grips a mug with a medium wrap grasp to drink from it.",
                "--n",
                "4",
                "--steps",
                "10",
                "--out",
                str(out),
                "--figure",
                str(tmp_path / "s.png"),
            ]
        )
        == 0
    )
    recs = read_records(out).records
    assert len(recs) == 4 and recs[0]["text"].startswith("A right hand")
    assert (tmp_path / "s.png").exists()
