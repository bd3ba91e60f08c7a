import json
import subprocess
import sys
import time
from pathlib import Path

import describe_server
import numpy as np
import pytest
from PIL import Image

from affordhand.cli import main
from affordhand.data.records import read_records
from affordhand.text.parse import clean_sentence, extract_json, match_grasp, parse_fields


def test_parser_reads_json_in_fences_prose_and_with_trailing_commas():
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('Here you go: {"a": {"b": "}"}} thanks') == {"a": {"b": "}"}}
    assert extract_json('{"a": 1,}') == {"a": 1}
    assert extract_json("no json here") is None
    fields, warnings = parse_fields('{"grasp_taxonomy": "Tripod", "object_size": 3, "hand_caption": ["a", "b"]}')
    assert fields["grasp_taxonomy"] == "Tripod" and fields["object_size"] == "3" and fields["hand_caption"] == "a, b"
    assert "missing field intention" in warnings


def test_grasp_answers_map_to_the_28_classes():
    assert match_grasp("power sphere") == ("Power Sphere", None)
    assert match_grasp("Tripod (14)")[0] == "Tripod"
    name, warning = match_grasp("Medium Wrapp")
    assert name == "Medium Wrap" and "mapped" in warning
    name, warning = match_grasp("banana grip")
    assert name is None and "left empty" in warning


def test_summary_sentence_form():
    assert clean_sentence('"A right hand holds a mug. It is nice."', "right") == "A right hand holds a mug."
    assert clean_sentence("A left hand holds a mug", "right") is None
    assert clean_sentence("The hand holds a mug.", "left") is None


@pytest.fixture()
def images(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rows = []
    for i, x0 in enumerate(describe_server.SCENARIOS):
        Image.fromarray(np.full((60, 80, 3), 10 * i, np.uint8)).save(folder / f"im{i}.jpg")
        rows.append(
            {
                "image": f"im{i}.jpg",
                "id": f"h{x0}",
                "side": "left" if i % 2 else "right",
                "hand_box": [x0, 5, 40, 50],
                "object_box": [30, 10, 70, 55],
            }
        )
    (tmp_path / "boxes.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder, tmp_path / "boxes.jsonl"


@pytest.mark.slow
def test_openai_backend_against_a_loopback_server(images, tmp_path, capsys, monkeypatch):
    server, url = describe_server.start()
    monkeypatch.setenv("TEST_KEY", "sk-secret-value")
    try:
        folder, boxes = images
        out = tmp_path / "d.jsonl"
        args = [
            "describe",
            "--images",
            str(folder),
            "--boxes",
            str(boxes),
            "--out",
            str(out),
            "--backend",
            "openai",
            "--base-url",
            url,
            "--model",
            "vlm",
            "--summary-model",
            "llm",
            "--api-key-env",
            "TEST_KEY",
            "--timeout",
            "0.5",
            "--retries",
            "1",
            "--backoff",
            "0.01",
            "--concurrency",
            "3",
        ]
        assert main(args) == 1  # some items fail for good
        printed = capsys.readouterr()
        assert "sk-secret-value" not in printed.out + printed.err
        rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
        assert len(rows) == len(describe_server.SCENARIOS)
        ok = rows["h10"]
        assert (
            ok["status"] == "ok"
            and ok["text"].startswith("A right hand")
            and ok["fields"]["grasp_taxonomy"] == "Medium Wrap"
        )
        assert ok["vlm_model"] == "vlm" and ok["summary_model"] == "llm" and ok["prompt_version"]
        assert rows["h11"]["status"] == "ok"  # JSON inside prose and a code fence
        assert rows["h12"]["status"] == "failed" and "no JSON" in rows["h12"]["error"]
        assert rows["h13"]["fields"]["grasp_taxonomy"] == "Medium Wrap"
        assert any("mapped" in w for w in rows["h13"]["warnings"]) and any(
            "extra" in w for w in rows["h13"]["warnings"]
        )
        assert rows["h14"]["status"] == "ok" and describe_server.Handler.calls["vlm:flaky"] == 2  # 500, then retried
        assert rows["h15"]["status"] == "failed" and "Timeout" in rows["h15"]["error"]
        assert describe_server.Handler.calls["vlm:slow"] == 2  # one retry after the timeout
        assert rows["h16"]["status"] == "ok" and describe_server.Handler.calls["summary:badsummary"] == 2
        assert rows["h17"]["fields"]["grasp_taxonomy"] is None and rows["h17"]["fields"]["object_size"] == "7"
        # A rerun asks only for what failed; the rest comes from the cache.
        before = sum(describe_server.Handler.calls.values())
        main(args)
        assert "2 failed" in capsys.readouterr().out
        asked = sum(describe_server.Handler.calls.values()) - before
        assert asked == 1 + 2  # broken (1 try) + slow (2 tries)
    finally:
        server.shutdown()


@pytest.mark.slow
def test_kill_9_then_rerun_loses_and_duplicates_nothing(images, tmp_path):
    folder, boxes = images
    good = [json.loads(line) for line in boxes.read_text().splitlines()]
    good = [r for r in good if describe_server.SCENARIOS[r["hand_box"][0]].startswith("good")]
    boxes.write_text("\n".join(json.dumps(r) for r in good) + "\n")
    server = subprocess.Popen(
        [sys.executable, str(Path(describe_server.__file__)), "0.3"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = server.stdout.readline().strip()
        out = tmp_path / "d.jsonl"
        cmd = [
            sys.executable,
            "-m",
            "affordhand",
            "describe",
            "--images",
            str(folder),
            "--boxes",
            str(boxes),
            "--out",
            str(out),
            "--backend",
            "openai",
            "--base-url",
            url,
            "--model",
            "m",
            "--concurrency",
            "1",
        ]
        run = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cache = tmp_path / "d.jsonl.cache.jsonl"
        for _ in range(300):
            if cache.exists() and len(cache.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        run.kill()
        run.wait()
        assert not out.exists()
        done_before = len(cache.read_text().splitlines())
        assert 2 <= done_before < len(good)
        assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["id"] for r in rows] == [r["id"] for r in good] and all(r["status"] == "ok" for r in rows)
        assert len(cache.read_text().splitlines()) == len(good)  # nothing cached twice
    finally:
        server.kill()


@pytest.mark.slow
def test_template_backend_output_feeds_train_and_refine(tmp_path):
    from affordhand.synth.dataset import SynthConfig, build

    build(SynthConfig(n=120, seed=4, free_hands=0.0), tmp_path)  # the template describes held objects
    desc = tmp_path / "desc.jsonl"
    assert main(["describe", "--input", str(tmp_path / "train.jsonl"), "--out", str(desc)]) == 0
    rows = read_records(desc).records
    assert all(r["text"].startswith(f"A {r['side']} hand") for r in rows)
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "train.jsonl"),
                "--text-from",
                str(desc),
                "--out",
                str(tmp_path / "run"),
                "--steps",
                "3",
                "--batch",
                "8",
                "--checkpoint-every",
                "3",
                "--uncertainty",
                "none",
            ]
        )
        == 0
    )
    described = read_records(tmp_path / "run" / "train_with_texts.jsonl").records
    assert [r["text"] for r in described] == [r["text"] for r in rows]
    test_desc = tmp_path / "test_desc.jsonl"
    assert main(["describe", "--input", str(tmp_path / "test.jsonl"), "--out", str(test_desc)]) == 0
    assert (
        main(
            [
                "refine",
                "--input",
                str(tmp_path / "test_init.jsonl"),
                "--text-from",
                str(test_desc),
                "--out",
                str(tmp_path / "refined.jsonl"),
                "--samples",
                "1",
            ]
        )
        == 0
    )
    refined = read_records(tmp_path / "refined.jsonl").records
    assert {r["id"]: r["text"] for r in refined} == {r["id"]: r["text"] for r in read_records(test_desc).records}


def test_describe_input_errors_are_one_line(tmp_path, capsys):
    assert main(["describe", "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "either --input" in capsys.readouterr().err
    (tmp_path / "b.jsonl").write_text('{"image": "x.jpg", "hand_box": [5, 5, 1, 1]}\n')
    (tmp_path / "imgs").mkdir()
    assert (
        main(
            [
                "describe",
                "--images",
                str(tmp_path / "imgs"),
                "--boxes",
                str(tmp_path / "b.jsonl"),
                "--out",
                str(tmp_path / "o.jsonl"),
            ]
        )
        == 2
    )
    assert "b.jsonl:1: a box must be" in capsys.readouterr().err


def _tiny_vlm(folder):
    """Save a tiny randomly initialised LLaVA (CLIP vision + Llama text) with its processor."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    words = [
        "[PAD]",
        "[UNK]",
        "<s>",
        "</s>",
        "<image>",
        "{",
        "}",
        '"',
        ":",
        ",",
        "a",
        "right",
        "left",
        "hand",
        "mug",
        "A",
        "holds",
        "the",
        "grasp",
        "json",
        "object",
        ".",
    ]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    template = (
        "{% for m in messages %}{% if m['content'] is string %}{{ m['content'] }}{% else %}"
        "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image> {% else %}{{ c['text'] }}{% endif %}"
        "{% endfor %}{% endif %}{% endfor %}"
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        bos_token="<s>",
        eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"},
    )
    fast.chat_template = template
    images = CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    proc = LlavaProcessor(
        image_processor=images,
        tokenizer=fast,
        patch_size=8,
        chat_template=template,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
    )
    vision = CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=16, patch_size=8
    )
    text = LlamaConfig(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
    )
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(
        LlavaConfig(
            vision_config=vision,
            text_config=text,
            image_token_index=4,
            vision_feature_select_strategy="default",
            vision_feature_layer=-1,
        )
    )
    model.save_pretrained(folder)
    proc.save_pretrained(folder)


def test_transformers_backend_with_a_tiny_random_vlm(images, tmp_path):
    model = tmp_path / "tiny"
    _tiny_vlm(model)
    folder, boxes = images
    rows = [json.loads(line) for line in boxes.read_text().splitlines()][:2]
    boxes.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "d.jsonl"
    code = main(
        [
            "describe",
            "--images",
            str(folder),
            "--boxes",
            str(boxes),
            "--out",
            str(out),
            "--backend",
            "transformers",
            "--model",
            str(model),
            "--concurrency",
            "1",
        ]
    )
    assert code == 1  # a random model answers noise: recorded per item, not raised
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 and all(r["status"] == "failed" and "no JSON object" in r["error"] for r in rows)
    assert rows[0]["vlm_model"] == str(model) and rows[0]["backend"] == "transformers"


def test_template_sentence_for_catalogue_and_other_objects():
    from affordhand.data.descriptions import template_sentence
    from affordhand.errors import AffordhandError

    known = template_sentence("right", "Potted meat can", "adducted thumb")
    assert known.startswith("A right hand") and "potted meat can" in known and "adducted thumb grasp" in known
    assert "medium potted meat can" in known  # the catalogue's size word for it
    other = template_sentence("left", "coffee thermos", "3", "drink")  # Feix 3: medium wrap
    assert other == "A left hand holds a coffee thermos to drink, using a medium wrap grasp."
    with pytest.raises(AffordhandError, match="unknown grasp"):
        template_sentence("right", "mug", "banana")


def test_a_huge_box_is_drawn_as_the_box_clipped_to_the_image(tmp_path):
    """A box of 1e300 px once took 18 s of CPU to draw; it is clipped to just outside the image first."""
    import numpy as np
    from PIL import Image

    from affordhand.text.describe import annotated_jpeg

    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(tmp_path / "x.png")
    huge = annotated_jpeg(tmp_path / "x.png", [0, 0, 1e300, 1e300], [-1e300, 10, 40, 1e300])
    fits = annotated_jpeg(tmp_path / "x.png", [0, 0, 83, 63], [-3, 10, 40, 63])
    assert huge == fits
