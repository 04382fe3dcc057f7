"""OpenAI-compatible text completions over a tiny character-level model the project makes itself.

Routes (exactly these paths; the rest of ``/v1/`` stays TF Serving's): ``POST /v1/completions``
and ``POST /v1/chat/completions``, ``"stream": false`` (one JSON body) or ``true`` (Server-Sent
Events: one ``data: {...}\\n\\n`` event per token, then ``data: [DONE]\\n\\n``).  A token is one
character.  For chat, the first token's delta carries ``"role": "assistant"`` too (no event
without a token: the number of data events is the number of tokens).

The model (:class:`~.charlm.CharModel`) is a character trigram table counted from
:data:`~.charlm.CORPUS`, a short text shipped with the package: built when the server starts
(milliseconds), nothing downloaded (Triton's decoupled model uses the same module).
Generation is deterministic for a prompt (and ``seed``): the next character is drawn from the
trigram's counts with a generator seeded from the prompt.  Each token takes
``token_time_ns`` (the server's stand-in for a decode step): token ``k`` (0-based) is due
``(k + 1) * token_time_ns`` after the request was read, so a slow client or scheduler does not
stretch the schedule.  This module is the pure part: the REST shell sleeps and writes.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .charlm import CORPUS, CharModel  # noqa: F401  (re-exported: the server's model)
from .status import ApiError

COMPLETIONS_PATHS = ("/v1/completions", "/v1/chat/completions")
MODEL_NAME = "inferwire-charlm"
#: Most tokens one request may ask for.
MAX_TOKENS_LIMIT = 4096
DEFAULT_MAX_TOKENS = 16


@dataclass(frozen=True)
class CompletionRequest:
    chat: bool
    prompt: str
    max_tokens: int
    stream: bool
    model: str
    seed: int | None


def parse_request(path: str, body: bytes) -> CompletionRequest:
    """The request of ``body`` (JSON) on ``path``; :class:`ApiError` (400) naming the bad field."""
    try:
        req = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("INVALID_ARGUMENT", f"request body is not JSON: {exc}") from None
    if not isinstance(req, dict):
        raise ApiError("INVALID_ARGUMENT", "request body must be a JSON object")
    chat = path == "/v1/chat/completions"
    if chat:
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            raise ApiError("INVALID_ARGUMENT", "'messages' must be a non-empty list of "
                           "{role, content} objects with string content")
        prompt = "\n".join(m["content"] for m in messages)
    else:
        prompt = req.get("prompt", "")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise ApiError("INVALID_ARGUMENT", "'prompt' must be a string")
    n = req.get("max_tokens", req.get("max_completion_tokens", DEFAULT_MAX_TOKENS))
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_TOKENS_LIMIT:
        raise ApiError("INVALID_ARGUMENT",
                       f"'max_tokens' must be an integer from 1 to {MAX_TOKENS_LIMIT}")
    seed = req.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ApiError("INVALID_ARGUMENT", "'seed' must be an integer")
    return CompletionRequest(chat, prompt, n, bool(req.get("stream", False)),
                             str(req.get("model") or MODEL_NAME), seed)


def _ids(req: CompletionRequest, request_id: str | None) -> dict:
    prefix = "chatcmpl-" if req.chat else "cmpl-"
    return {"id": prefix + (request_id or f"{time.time_ns():x}"),
            "object": "chat.completion.chunk" if req.chat and req.stream else
            "chat.completion" if req.chat else "text_completion",
            "created": int(time.time()), "model": req.model}


def full_body(req: CompletionRequest, tokens: list[str], request_id: str | None) -> bytes:
    """The non-streamed reply's JSON body."""
    text = "".join(tokens)
    choice = ({"index": 0, "message": {"role": "assistant", "content": text},
               "finish_reason": "length"} if req.chat else
              {"index": 0, "text": text, "logprobs": None, "finish_reason": "length"})
    return json.dumps({**_ids(req, request_id), "choices": [choice],
                       "usage": _usage(req, tokens)}).encode()


def _usage(req: CompletionRequest, tokens: list[str]) -> dict:
    return {"prompt_tokens": len(req.prompt), "completion_tokens": len(tokens),
            "total_tokens": len(req.prompt) + len(tokens)}


def sse_event(payload) -> bytes:
    """One Server-Sent Event carrying ``payload`` (JSON-encoded unless bytes)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return b"data: " + data + b"\n\n"


DONE_EVENT = sse_event(b"[DONE]")


def stream_events(req: CompletionRequest, tokens: list[str],
                  request_id: str | None) -> list[bytes]:
    """The streamed reply: one SSE event per token (the last with ``finish_reason``), then
    ``[DONE]``."""
    ids, events = _ids(req, request_id), []
    for k, tok in enumerate(tokens):
        last = k == len(tokens) - 1
        if req.chat:
            delta = {"role": "assistant", "content": tok} if k == 0 else {"content": tok}
            choice = {"index": 0, "delta": delta, "finish_reason": "length" if last else None}
        else:
            choice = {"index": 0, "text": tok, "logprobs": None,
                      "finish_reason": "length" if last else None}
        events.append(sse_event({**ids, "choices": [choice]}))
    return events + [DONE_EVENT]


def error_body(message: str) -> bytes:
    """OpenAI's error shape."""
    return json.dumps({"error": {"message": message, "type": "invalid_request_error",
                                 "code": None}}).encode()
