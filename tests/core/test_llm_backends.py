"""Text generators: the HTTP client's retries and key hygiene, and the HF wrapper."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from synprompt_core.alignment import (
    GenerationRequestError,
    HFCausalGenerator,
    OpenAICompatibleGenerator,
    TextGenerator,
)

KEY = "sk-test-secret-0123456789"
TINY_GPT2 = Path(__file__).resolve().parents[3] / "shared" / "models" / "tiny-gpt2-sst2"


class _Server:
    """A chat-completions stand-in on 127.0.0.1 that fails ``failures`` times first."""

    def __init__(self, failures: int, status: int = 503, location: str | None = None) -> None:
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"auth": self.headers.get("Authorization"), "body": body})
                if len(outer.requests) <= failures:
                    self.send_response(status)
                    if location:
                        self.send_header("Location", location)
                    self.end_headers()
                    return
                text = f"1. echo {body['messages'][0]['content']} seed={body['seed']}"
                data = json.dumps({"choices": [{"message": {"content": text}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_http_backend_retries_on_503_then_answers(monkeypatch, caplog):
    monkeypatch.setenv("SYNPROMPT_TEST_KEY", KEY)
    sleeps: list[float] = []
    with _Server(failures=2) as server, caplog.at_level(logging.DEBUG):
        gen = OpenAICompatibleGenerator(
            base_url=server.url, model="m", api_key_env="SYNPROMPT_TEST_KEY",
            max_retries=3, backoff_s=0.5, sleep=sleeps.append,
        )  # fmt: skip
        out = gen.generate(["hi", "there"], max_new_tokens=8, temperature=0.7, seed=10)
    assert out == ["1. echo hi seed=10", "1. echo there seed=11"]
    assert sleeps == [0.5, 1.0]
    assert len(server.requests) == 4
    assert all(r["auth"] == f"Bearer {KEY}" for r in server.requests)
    assert server.requests[-1]["body"]["max_tokens"] == 8
    assert "HTTP 503" in caplog.text
    assert KEY not in caplog.text and KEY not in repr(gen) and KEY not in str(vars(gen))


def test_http_backend_gives_up_after_bounded_retries():
    with _Server(failures=10, status=500) as server:
        gen = OpenAICompatibleGenerator(
            base_url=server.url, model="m", api_key=KEY, max_retries=2, sleep=lambda s: None
        )
        with pytest.raises(GenerationRequestError, match="after 3 attempts: HTTP 500") as err:
            gen.generate(["x"], max_new_tokens=4, temperature=0.0, seed=0)
    assert len(server.requests) == 3
    assert KEY not in str(err.value) and KEY not in repr(gen)


def test_http_backend_does_not_retry_a_client_error():
    with _Server(failures=10, status=400) as server:
        gen = OpenAICompatibleGenerator(base_url=server.url, model="m", sleep=lambda s: None)
        with pytest.raises(GenerationRequestError, match="HTTP 400"):
            gen.generate(["x"], max_new_tokens=4, temperature=0.0, seed=0)
    assert len(server.requests) == 1


def test_http_backend_never_follows_a_redirect_with_the_key():
    with _Server(failures=0) as elsewhere, _Server(10, 302, elsewhere.url) as server:
        gen = OpenAICompatibleGenerator(
            base_url=server.url, model="m", api_key=KEY, sleep=lambda s: None
        )
        with pytest.raises(GenerationRequestError, match="HTTP 302"):
            gen.generate(["x"], max_new_tokens=4, temperature=0.0, seed=0)
    assert len(server.requests) == 1 and elsewhere.requests == []


def test_a_key_sent_over_plain_http_to_another_host_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING):
        OpenAICompatibleGenerator(base_url="http://127.0.0.1:8000", model="m", api_key=KEY)
        assert "plain http" not in caplog.text
        OpenAICompatibleGenerator(base_url="http://llm.example:8000", model="m", api_key=KEY)
    assert "llm.example over plain http" in caplog.text and KEY not in caplog.text


def test_http_backend_retries_connection_errors():
    sleeps: list[float] = []
    gen = OpenAICompatibleGenerator(
        base_url="http://127.0.0.1:9", model="m", max_retries=2, backoff_s=0.1,
        timeout_s=2.0, sleep=sleeps.append,
    )  # fmt: skip
    with pytest.raises(GenerationRequestError, match="connection error"):
        gen.generate(["x"], max_new_tokens=4, temperature=0.0, seed=0)
    assert sleeps == [0.1, 0.2]


@pytest.fixture(scope="module")
def tiny_gpt2():
    if not TINY_GPT2.is_dir():
        pytest.skip("../shared/models/tiny-gpt2-sst2 is not present")
    return HFCausalGenerator.from_pretrained(str(TINY_GPT2))


def test_hf_generator_is_seeded_per_prompt(tiny_gpt2):
    assert isinstance(tiny_gpt2, TextGenerator)
    prompts = ["the movie was", "a dull"]
    a = tiny_gpt2.generate(prompts, max_new_tokens=8, temperature=1.0, seed=5)
    b = tiny_gpt2.generate(prompts[1:], max_new_tokens=8, temperature=1.0, seed=6)
    assert len(a) == 2 and all(isinstance(t, str) and t for t in a)
    assert a[1] == b[0]
    assert a == tiny_gpt2.generate(prompts, max_new_tokens=8, temperature=1.0, seed=5)
    assert "the movie was" not in a[0][:13]


def test_hf_generator_greedy_ignores_seed(tiny_gpt2):
    g1 = tiny_gpt2.generate(["it is"], max_new_tokens=6, temperature=0.0, seed=1)
    g2 = tiny_gpt2.generate(["it is"], max_new_tokens=6, temperature=0.0, seed=99)
    assert g1 == g2


def test_hf_generator_accepts_the_documented_auto_device(tiny_gpt2):
    import torch

    auto = HFCausalGenerator(tiny_gpt2.model, tiny_gpt2.tokenizer, device="auto")
    assert auto.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert auto.generate(["it is"], max_new_tokens=3, temperature=0.0, seed=0)[0]


def test_http_backend_retries_a_connection_dropped_mid_answer():
    answers = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            data = json.dumps({"choices": [{"message": {"content": "1. ok"}}]}).encode()
            answers.append(len(answers))
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data if len(answers) > 1 else data[:5])  # first: cut short
            self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    sleeps: list[float] = []
    try:
        gen = OpenAICompatibleGenerator(
            base_url=f"http://127.0.0.1:{httpd.server_address[1]}", model="m",
            max_retries=2, backoff_s=0.1, timeout_s=5.0, sleep=sleeps.append,
        )  # fmt: skip
        assert gen.generate(["x"], max_new_tokens=4, temperature=0.0, seed=0) == ["1. ok"]
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert sleeps == [0.1] and len(answers) == 2
