"""Text generators for latent-attribute generation: one protocol, two backends.

``OpenAICompatibleGenerator`` posts to ``{base_url}/v1/chat/completions`` with the standard
library only. The API key is read from an environment variable at request time (or passed
in by a caller that resolved a secret); it is never stored in the repr or written to logs.
Retries with exponential backoff live here and only here: on 429, 5xx and connection errors.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from synprompt_core.alignment.embeddings import resolve_device

logger = logging.getLogger(__name__)


@runtime_checkable
class TextGenerator(Protocol):
    """Anything that turns prompts into completions; output i answers prompt i."""

    def generate(
        self, prompts: list[str], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]: ...


class GenerationRequestError(RuntimeError):
    """The endpoint failed for good: a non-retryable status or retries exhausted."""


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# a connection dropped mid-answer surfaces as IncompleteRead, which is no ConnectionError
CONNECTION_ERRORS = (
    urllib.error.URLError, TimeoutError, ConnectionError, http.client.IncompleteRead
)  # fmt: skip


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: urllib would send the Authorization header to the new host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError(code), which is not retried


_OPENER = urllib.request.build_opener(_NoRedirect)


class OpenAICompatibleGenerator:
    """Chat-completions client; prompt i is sent with seed ``seed + i``.

    Args:
        base_url: endpoint root, e.g. ``http://127.0.0.1:8000``.
        model: served model name.
        api_key_env: name of the environment variable holding the key (may be unset).
        api_key: a key resolved by the caller (e.g. from a Prefect secret); wins over the env.
        timeout_s: per-request timeout.
        max_retries: retries after the first attempt.
        backoff_s: first retry delay; doubles per retry, capped at ``max_backoff_s``.
        sleep: injectable for tests.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = base_url.rstrip("/") + "/v1/chat/completions"
        self.model, self.api_key_env = model, api_key_env
        self._key = (lambda: api_key) if api_key is not None else (
            lambda: os.environ.get(api_key_env)
        )  # fmt: skip
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self.backoff_s, self.max_backoff_s, self._sleep = backoff_s, max_backoff_s, sleep
        where = urllib.parse.urlsplit(self.url)
        if where.scheme == "http" and where.hostname not in LOCAL_HOSTS and self._key():
            logger.warning(
                "the API key goes to %s over plain http: anyone on the way can read it; "
                "use https", where.hostname,
            )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleGenerator(url={self.url!r}, model={self.model!r}, "
            f"api_key_env={self.api_key_env!r})"
        )

    def generate(
        self, prompts: list[str], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        """One chat completion per prompt, in order."""
        return [
            self._complete(p, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + i)
            for i, p in enumerate(prompts)
        ]

    def _complete(self, prompt: str, *, max_new_tokens: int, temperature: float, seed: int) -> str:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        payload = self._post_with_retries(json.dumps(body).encode())
        try:
            return payload["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as err:
            raise GenerationRequestError(f"unexpected response shape from {self.url}") from err

    def _post_with_retries(self, data: bytes) -> dict:
        for attempt in range(self.max_retries + 1):
            try:
                return self._post(data)
            except urllib.error.HTTPError as err:
                retryable = err.code == 429 or err.code >= 500
                problem, retry_after = f"HTTP {err.code}", err.headers.get("Retry-After")
                if not retryable:
                    raise GenerationRequestError(f"POST {self.url} failed: {problem}") from err
            except CONNECTION_ERRORS as err:
                problem, retry_after = f"connection error ({type(err).__name__})", None
            if attempt == self.max_retries:
                break
            delay = self._delay(attempt, retry_after)
            logger.warning(
                "POST %s: %s; retry %d/%d in %.2fs",
                self.url, problem, attempt + 1, self.max_retries, delay,
            )  # fmt: skip
            self._sleep(delay)
        raise GenerationRequestError(
            f"POST {self.url} failed after {self.max_retries + 1} attempts: {problem}"
        )

    def _post(self, data: bytes) -> dict:
        headers = {"Content-Type": "application/json"}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        with _OPENER.open(request, timeout=self.timeout_s) as response:
            return json.loads(response.read().decode("utf-8"))

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        delay = self.backoff_s * 2**attempt
        if retry_after and retry_after.strip().replace(".", "", 1).isdigit():
            delay = max(delay, float(retry_after))
        return min(delay, self.max_backoff_s)


class HFCausalGenerator:
    """Plain-text sampling from a Hugging Face causal LM; prompt i uses seed ``seed + i``.

    Each prompt is generated on its own, so output i depends only on (prompt i, seed + i),
    not on what else was in the batch. Only the continuation is returned.
    """

    def __init__(self, model, tokenizer, *, device: str = "cpu") -> None:
        device = resolve_device(device)
        self.model, self.tokenizer, self.device = model.to(device).eval(), tokenizer, device

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, device: str = "cpu") -> HFCausalGenerator:
        """Load through the real ``from_pretrained`` path (hub id or local folder)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(name_or_path, trust_remote_code=False)
        return cls(model, tokenizer, device=device)

    def __repr__(self) -> str:
        return f"HFCausalGenerator(model={self.model.name_or_path!r}, device={self.device!r})"

    def generate(
        self, prompts: list[str], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        """Sample (or greedy-decode when ``temperature == 0``) a continuation per prompt."""
        import torch

        pad_id = self.tokenizer.pad_token_id
        pad_id = self.tokenizer.eos_token_id if pad_id is None else pad_id
        outputs = []
        for i, prompt in enumerate(prompts):
            enc = self.tokenizer(prompt, return_tensors="pt").to(self.device)
            sampling = {"do_sample": True, "temperature": temperature}
            with torch.random.fork_rng(), torch.no_grad():
                torch.manual_seed(seed + i)
                ids = self.model.generate(
                    **enc, max_new_tokens=max_new_tokens, pad_token_id=pad_id,
                    **(sampling if temperature > 0 else {"do_sample": False}),
                )  # fmt: skip
            new = ids[0, enc["input_ids"].shape[1] :]
            outputs.append(self.tokenizer.decode(new, skip_special_tokens=True))
        return outputs
