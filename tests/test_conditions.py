"""The prior's condition vector (prior/conditions.py) and the grasp a record names (data/taxonomy.py)."""

import json

import numpy as np
import pytest
import torch

from affordhand.data.taxonomy import FEIX_GRASPS, GRASPS, grasp_by_name, grasp_in_text, record_grasp
from affordhand.errors import AffordhandError
from affordhand.prior.conditions import condition_vectors, drop_fields, grasp_features
from affordhand.prior.config import GRASP_FEATURES, PriorConfig, condition_dim, condition_layout
from affordhand.prior.model import load_prior
from affordhand.prior.train import train


class _FakeEncoder:
    """A text encoder of 4 dims that counts its calls."""

    dim = 4

    def __init__(self):
        self.calls = 0

    def encode(self, sentences):
        self.calls += 1
        return torch.stack([torch.full((4,), float(len(s))) for s in sentences])


def test_feix_has_33_classes_and_hograspnet_its_28():
    assert len(FEIX_GRASPS) == 33 and len(GRASPS) == 28 and set(GRASPS) <= set(FEIX_GRASPS)


@pytest.mark.parametrize(
    "text, feix",
    [
        ("A right hand holds a mug, using a medium wrap grasp.", 3),
        ("A left hand grips the pen in a lateral tripod grasp to write.", 25),  # the longer name wins over tripod
        ("A right hand holds a ball with a sphere four finger grip.", 26),  # number words match digits
        ("A right hand holds a can; the ring finger curls around it.", None),  # a finger, not the Ring grasp
        ("A right hand holds a cup.", None),
    ],
)
def test_grasp_in_text(text, feix):
    grasp = grasp_in_text(text)
    assert (grasp.feix_id if grasp else None) == feix


def test_record_grasp_prefers_the_label_then_the_fields_then_the_text():
    text = "A right hand holds a mug, using a medium wrap grasp."
    assert record_grasp({"taxonomy_id": 14, "text": text}).feix_id == 14
    assert record_grasp({"fields": {"grasp_taxonomy": "Prismatic 2 Finger"}, "text": text}).feix_id == 8
    assert record_grasp({"text": text}).feix_id == 3
    assert record_grasp({}) is None
    assert grasp_by_name("sphere-four finger").feix_id == 26


def test_grasp_features_one_hot_and_attributes():
    tripod, hook = grasp_features(FEIX_GRASPS[14]), grasp_features(FEIX_GRASPS[15])
    assert tripod.shape == (GRASP_FEATURES,) and tripod[:33].sum() == 1 and hook[:33].sum() == 1
    assert tripod[list(FEIX_GRASPS).index(14)] == 1
    # tripod: precision, pad, abducted, fingers 2-3; fixed hook: power, palm, adducted, fingers 2-5
    assert list(tripod[33:]) == [0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0]
    assert list(hook[33:]) == [1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1]


def test_condition_vectors_fill_each_field_with_its_presence_bit():
    enc = _FakeEncoder()
    texts = ["A right hand holds a mug, using a medium wrap grasp.", None, None]
    grasps = [FEIX_GRASPS[3], FEIX_GRASPS[14], None]
    cond, has = condition_vectors(["text", "grasp"], enc, texts, grasps)
    layout = condition_layout(["text", "grasp"], 4)
    assert cond.shape == (3, condition_dim(["text", "grasp"], 4)) == (3, 4 + 1 + GRASP_FEATURES + 1)
    assert has.tolist() == [True, True, False]
    assert cond[0, layout["text"]][-1] == 1 and cond[1, layout["text"]].abs().sum() == 0
    assert cond[1, layout["grasp"]][-1] == 1 and torch.all(cond[2] == 0)
    legacy, has = condition_vectors(["text"], enc, texts, grasps)
    assert legacy.shape == (3, 4) and has.tolist() == [True, False, False]  # the sentence alone, as before


def test_no_sentence_means_no_text_encoder_call():
    enc = _FakeEncoder()
    condition_vectors(["text", "grasp"], enc, [None, None], [FEIX_GRASPS[1], None])
    assert enc.calls == 0


def test_dropping_every_field_gives_the_null_condition():
    enc = _FakeEncoder()
    layout = condition_layout(["text", "grasp"], 4)
    cond, has = condition_vectors(
        ["text", "grasp"], enc, ["A right hand holds it, in a tripod grasp."] * 2000, [FEIX_GRASPS[14]] * 2000
    )
    dropped, kept = drop_fields(cond, has, layout, 0.5, torch.Generator().manual_seed(0))
    present = torch.stack([dropped[:, b.stop - 1] for b in layout.values()], 1)
    assert torch.equal(kept, present.any(1))
    assert 0.2 < (~kept).float().mean() < 0.3  # both dropped: 0.5 * 0.5
    assert torch.all(dropped[~kept] == 0)


def test_unknown_condition_field_is_a_clear_error():
    with pytest.raises(AffordhandError, match="unknown condition fields"):
        condition_layout(["text", "colour"], 4)


@pytest.mark.slow
def test_priors_made_before_structured_conditions_still_load(tmp_path, synth_set):
    data = synth_set(n=60, seed=1)
    run = tmp_path / "run"
    train(
        PriorConfig(conditions=["text"], text_encoder="none", steps=3, batch=8, checkpoint_every=3),
        str(data / "train.jsonl"),
        run,
        quiet=True,
    )
    config = json.loads((run / "config.json").read_text())
    for key in ("conditions", "text_dim"):
        config.pop(key)
    (run / "config.json").write_text(json.dumps(config))
    prior = load_prior(run)
    assert prior.config.conditions == ["text"] and prior.config.cond_dim == 0


@pytest.mark.slow
def test_a_grasp_conditioned_prior_trains_on_labels_and_samples(tmp_path, synth_set):
    from affordhand.prior.generate import encode_conditions, sample_poses

    data = synth_set(n=60, seed=1)
    run = tmp_path / "run"
    prior = train(
        PriorConfig(conditions=["grasp"], text_encoder="none", steps=10, batch=16, checkpoint_every=10),
        str(data / "train.jsonl"),
        run,
        quiet=True,
    )
    assert prior.config.cond_dim == GRASP_FEATURES + 1
    cond, has = encode_conditions(prior, ["A right hand holds a mug, using a medium wrap grasp.", None])
    assert has.tolist() == [True, False]
    poses = sample_poses(prior, ["A right hand holds a mug, using a medium wrap grasp."] * 3, steps=5)
    assert poses.shape == (3, 45) and np.isfinite(poses.numpy()).all()


def test_object_keys_and_which_objects_a_record_names():
    from affordhand.prior.conditions import known_objects, object_is_known, object_key

    assert object_key(" Potted_Meat-Can") == "potted meat can"
    records = [
        {"object": "mug"},
        {"fields": {"object_category": "Power Drill"}},
        {"object": "mug", "fields": {"object_category": "cup"}},
        {},
    ]
    known = known_objects(records)
    assert known == ["cup", "mug", "power drill"]
    assert object_is_known({"object": "MUG"}, known) is True
    named_banana = {"object": "banana", "text": "A right hand holds a mug."}
    assert object_is_known(named_banana, known) is False  # the record's name decides
    assert object_is_known({"text": "A right hand lifts the power drill."}, known) is True  # no name: the sentence
    assert object_is_known({"text": "A right hand holds a mugger."}, known) is False  # whole words only
    assert object_is_known({"object": "banana"}, []) is None  # a prior that lists no objects cannot tell
    assert object_key("Tasse à café") == "tasse à café" and known_objects([{"object": "杯子"}]) == ["杯子"]
    ring = known_objects([{"object": "ring"}])
    assert object_is_known({"text": "A right hand holds a box, using a ring grasp."}, ring) is False
    assert object_is_known({"text": "A right hand holds a ring, using a ring grasp."}, ring) is True
    assert object_is_known({"object": 3, "fields": "x", "text": None}, known) is False


def test_a_prior_config_with_a_bad_object_list_is_a_clear_error():
    for bad in (None, "mug", [1]):
        with pytest.raises(AffordhandError, match="objects must be a list"):
            PriorConfig(objects=bad)
