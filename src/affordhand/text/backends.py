"""Where descriptions come from: any OpenAI-compatible server (vLLM, Ollama, LM Studio, ...), local
`transformers` models, or templates from record labels (no model at all).

A backend answers two calls: `ask_vlm(image_jpeg, prompt) -> str` and `ask_text(prompt) -> str`.
"""

from __future__ import annotations

import base64
import io
import os
import time

from affordhand.errors import AffordhandError

RETRYABLE_STATUS = (429, 500, 502, 503, 504)


class ModelError(Exception):
    """A model call that failed for good (after retries); the message is recorded with the item."""


class OpenAIBackend:
    """Chat completions on an OpenAI-compatible server; images go as base64 data URLs."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        summary_model: str | None = None,
        api_key_env: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
    ):
        try:
            import openai
        except ImportError:
            raise AffordhandError("the openai backend needs: pip install 'affordhand[describe]'") from None
        if not model:
            raise AffordhandError("--model is required with --backend openai")
        key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and not key:
            raise AffordhandError(f"environment variable {api_key_env} is not set (it should hold the API key)")
        self.openai = openai
        self.client = openai.OpenAI(base_url=base_url, api_key=key or "unused", timeout=timeout, max_retries=0)
        self.model, self.summary_model = model, summary_model or model
        self.retries, self.backoff = retries, backoff

    def _chat(self, model: str, content) -> str:
        errors = (self.openai.RateLimitError, self.openai.InternalServerError, self.openai.APIConnectionError)
        for attempt in range(self.retries + 1):
            try:
                reply = self.client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": content}], temperature=0.0, max_tokens=600
                )
                return reply.choices[0].message.content or ""
            except errors as exc:
                if attempt == self.retries:
                    raise ModelError(f"{type(exc).__name__} after {attempt + 1} tries: {exc}") from None
                time.sleep(self.backoff * 2**attempt)
            except self.openai.APIStatusError as exc:  # other 4xx: retrying will not help
                raise ModelError(f"HTTP {exc.status_code}: {exc.message}") from None
        raise ModelError("unreachable")

    def ask_vlm(self, image_jpeg: bytes, prompt: str) -> str:
        url = "data:image/jpeg;base64," + base64.b64encode(image_jpeg).decode()
        return self._chat(
            self.model, [{"type": "text", "text": prompt}, {"type": "image_url", "image_url": {"url": url}}]
        )

    def ask_text(self, prompt: str) -> str:
        return self._chat(self.summary_model, prompt)


class TransformersBackend:
    """A local image-text-to-text model (e.g. Qwen2.5-VL) and a local text model, through transformers."""

    name = "transformers"

    def __init__(self, model: str, summary_model: str | None = None, device: str = "cpu", max_new_tokens: int = 400):
        try:
            from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise AffordhandError("the transformers backend needs: pip install 'affordhand[text]'") from None
        hf_logging.disable_progress_bar()
        try:
            self.processor = AutoProcessor.from_pretrained(model)
            self.vlm = AutoModelForImageTextToText.from_pretrained(model).to(device).eval()
            summary = summary_model or model
            self.tokenizer = AutoTokenizer.from_pretrained(summary)
            self.lm = self.vlm if summary == model else AutoModelForCausalLM.from_pretrained(summary).to(device).eval()
        except (OSError, ValueError) as exc:
            raise AffordhandError(f"cannot load {model!r} / {summary_model!r} with transformers: {exc}") from None
        self.model, self.summary_model = model, summary_model or model
        self.device, self.max_new_tokens = device, max_new_tokens

    def _generate(self, model, inputs) -> str:
        import torch

        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1] :]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)[0]

    def ask_vlm(self, image_jpeg: bytes, prompt: str) -> str:
        from PIL import Image

        image = Image.open(io.BytesIO(image_jpeg)).convert("RGB")
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        return self._generate(self.vlm, self.processor(images=[image], text=[text], return_tensors="pt"))

    def ask_text(self, prompt: str) -> str:
        messages = [{"role": "user", "content": prompt}]
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = prompt
        return self._generate(self.lm, self.tokenizer([text], return_tensors="pt"))
