import pytest
import torch

from affordhand.errors import AffordhandError
from affordhand.text.encoders import load_text_encoder


def test_none_encoder_has_no_dimensions():
    enc = load_text_encoder("none")
    assert enc.dim == 0 and enc.encode(["a", "b"]).shape == (2, 0)


def test_minilm_ships_offline_and_separates_meanings():
    enc = load_text_encoder("minilm")
    e = enc.encode(
        [
            "A right hand holds a mug to drink.",
            "A right hand grips a cup to take a sip.",
            "A left hand pinches a dice between thumb and index tip.",
        ]
    )
    assert e.shape == (3, 384)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-4)
    assert float(e[0] @ e[1]) > float(e[0] @ e[2])
    assert torch.equal(enc.encode(["A right hand holds a mug to drink."])[0], e[0])  # cached


@pytest.mark.parametrize("pooling", ["", "#cls"])
def test_hf_encoder_on_a_tiny_local_bert(tmp_path, pooling):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "right", "hand", "holds", "mug", "left"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
        )
    ).save_pretrained(tmp_path)
    enc = load_text_encoder(f"hf:{tmp_path}{pooling}")
    e = enc.encode(["a right hand holds a mug", "a left hand"])
    assert e.shape == (2, 16) and enc.dim == 16 and torch.isfinite(e).all()
    assert not torch.allclose(e[0], e[1])


def test_unknown_encoder_and_missing_model_are_clear_errors(tmp_path):
    with pytest.raises(AffordhandError, match="unknown text encoder"):
        load_text_encoder("word2vec")
    with pytest.raises(AffordhandError, match="cannot load text encoder"):
        load_text_encoder(f"hf:{tmp_path / 'nothing'}")


def test_embeddings_are_kept_on_disk_by_encoder_and_sentence(tmp_path, monkeypatch):
    from affordhand.text.encoders import MiniLMEncoder

    monkeypatch.setenv("AFFORDHAND_CACHE_DIR", str(tmp_path))
    sentences = ["A right hand holds a mug to drink.", "A left hand pinches a coin."]
    first = MiniLMEncoder()
    e = first.encode(sentences)
    assert (tmp_path / "text-embeddings.sqlite").is_file()
    second = MiniLMEncoder()  # a new process, in effect: empty memory cache
    calls = []
    monkeypatch.setattr(second, "_embed", lambda s: calls.append(list(s)) or first._embed(s))
    assert torch.equal(second.encode(sentences), e)
    assert calls == []  # every sentence on disk, and the fingerprint remembered for these model files
    assert second._model is None  # so the model was never loaded
    assert not torch.equal(second.encode(["A left hand holds a pen."]), torch.zeros(1, 384))
    assert calls == [["A left hand holds a pen."]]
    monkeypatch.setenv("AFFORDHAND_CACHE_DIR", "off")
    third = MiniLMEncoder()
    assert torch.allclose(third.encode(sentences), e, atol=1e-6)
    assert third._disk is None  # off: nothing read or written


def test_changed_model_files_are_probed_again(tmp_path, monkeypatch):
    """The remembered fingerprint belongs to the model files it was made with: other files are probed."""
    from affordhand.text.encoders import PROBE, MiniLMEncoder

    monkeypatch.setenv("AFFORDHAND_CACHE_DIR", str(tmp_path))
    MiniLMEncoder().encode(["A right hand holds a mug to drink."])
    changed = MiniLMEncoder()
    monkeypatch.setattr(changed, "_identity", lambda: "other model files")
    calls = []
    monkeypatch.setattr(changed, "_embed", lambda s: calls.append(list(s)) or torch.zeros(len(s), 384))
    changed.encode(["A right hand holds a mug to drink."])
    assert calls[0] == [PROBE]
