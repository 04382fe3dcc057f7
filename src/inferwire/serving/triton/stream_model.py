"""Triton Python-backend model streaming text one character at a time (copied as ``model.py``).

A *decoupled* model (``model_transaction_policy { decoupled: true }``): ``execute`` hands each
request to a decode loop and returns at once; the loop sends the tokens through each request's
response sender, the last one flagged final.  Triton carries them to the client as the messages
of a gRPC ``ModelStreamInfer`` stream or the events of HTTP ``generate_stream`` (SSE).

Input ``text_input`` (BYTES [1], the prompt); output ``text_output`` (BYTES [1], one character
per response).  The request parameter ``max_tokens`` (default 16, at most ``max_tokens_limit``)
says how many.  The text comes from the project's character model (``charlm.py`` beside this
file: the embedded server's model, so both servers answer a prompt with the same text).

The decode loop is one per model instance and steps every ``token_time_ms`` (config parameter,
milliseconds) on an absolute schedule: each step emits the next token of every running request,
as a continuous-batching server does.  A request joins at the next step, so its first token comes
0 to one step after it arrived when others are running, one step after when none is.  With
``instance_group { count: N }`` each instance (its own stub process) runs its own loop over the
requests Triton gave it; at unload each prints one line to Triton's log,
``inferwire charlm instance NAME: S streams, K decode steps`` (:data:`INSTANCE_LINE`), saying
how Triton spread the requests.
"""
import json
import os
import sys
import threading
import time

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import charlm  # noqa: E402  (beside this file in the repository)

DEFAULT_MAX_TOKENS = 16
#: How often (ns of tokens) a stream asks whether its client cancelled: each ask is a round trip
#: to Triton's process (the Python backend's IsCancelled), too dear for every token at 1 ms steps.
CANCEL_CHECK_NS = 100_000_000
#: The line each instance prints at unload (Triton's log): its name, streams and decode steps.
INSTANCE_LINE = "inferwire charlm instance {name}: {streams} streams, {steps} decode steps"


class _Stream:
    """One request being answered: its sender, its tokens and how many were sent."""

    def __init__(self, sender, tokens):
        self.sender, self.tokens, self.sent, self.next_check = sender, tokens, 0, 0


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        if not pb_utils.using_decoupled_model_transaction_policy(config):
            raise pb_utils.TritonModelException("this model streams: it needs "
                                                "model_transaction_policy { decoupled: true }")
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.step_ns = round(float(params.get("token_time_ms", "10")) * 1e6)
        self.check_every = max(1, CANCEL_CHECK_NS // max(self.step_ns, 1))
        self.max_tokens_limit = int(params.get("max_tokens_limit", "4096"))
        self.model = charlm.CharModel()
        self.cond = threading.Condition()
        self.pending, self.stopping = [], False
        self.instance = args.get("model_instance_name", "?")
        self.streams = self.steps = 0
        self.loop = threading.Thread(target=self._decode_loop, daemon=True)
        self.loop.start()

    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            try:
                prompt, n = self._parse(request)
            except ValueError as exc:
                sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))),
                            flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
                continue
            stream = _Stream(sender, self.model.generate(prompt, n))
            with self.cond:
                self.pending.append(stream)
                self.streams += 1
                self.cond.notify()
        return None

    def _parse(self, request):
        """(prompt, max_tokens) of ``request``; ValueError naming the bad field."""
        text = pb_utils.get_input_tensor_by_name(request, "text_input")
        values = text.as_numpy().reshape(-1) if text is not None else []
        if len(values) != 1:
            raise ValueError("text_input must hold one string")
        prompt = values[0]
        prompt = prompt.decode("utf-8", "replace") if isinstance(prompt, bytes) else str(prompt)
        params = json.loads(request.parameters() or "{}")
        n = params.get("max_tokens", DEFAULT_MAX_TOKENS)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= self.max_tokens_limit:
            raise ValueError(f"parameter max_tokens must be an integer from 1 to "
                             f"{self.max_tokens_limit}, got {n!r}")
        return prompt, n

    def _decode_loop(self):
        active, due = [], 0
        while True:
            with self.cond:
                while not active and not self.pending and not self.stopping:
                    self.cond.wait()
                if self.stopping:
                    return
                if not active:
                    due = time.monotonic_ns() + self.step_ns   # idle: one step from now
            wait = due - time.monotonic_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
            with self.cond:                 # whoever arrived during the wait joins this step
                active += self.pending
                self.pending.clear()
            active = [s for s in active if self._emit(s)]
            self.steps += 1
            due += self.step_ns
            due = max(due, time.monotonic_ns() - self.step_ns)   # far behind: no burst

    def _emit(self, stream):
        """Send ``stream``'s next token (final on the last); False when it is finished.  A
        request the client cancelled (gone away) gets the final flag alone and no more tokens
        (its sends would succeed and go nowhere); asked every :data:`CANCEL_CHECK_NS`."""
        if stream.sent >= stream.next_check:
            stream.next_check += self.check_every
            if stream.sender.is_cancelled():
                stream.sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
                return False
        token = stream.tokens[stream.sent]
        stream.sent += 1
        last = stream.sent == len(stream.tokens)
        out = pb_utils.Tensor("text_output", np.array([token.encode("utf-8")], dtype=np.object_))
        try:
            stream.sender.send(pb_utils.InferenceResponse(output_tensors=[out]),
                               flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if last else 0)
        except Exception:   # the client went away (request cancelled): stop this stream
            return False
        return not last

    def finalize(self):
        with self.cond:
            self.stopping = True
            self.cond.notify()
        self.loop.join(5)
        print(INSTANCE_LINE.format(name=self.instance, streams=self.streams, steps=self.steps),
              flush=True)
