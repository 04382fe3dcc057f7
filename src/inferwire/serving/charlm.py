"""The project's own tiny generative model: a character trigram table counted from a short text.

Self-contained (standard library only): the embedded server's completions endpoint imports it,
and Triton's decoupled streaming model gets a copy beside its ``model.py`` (Triton's Python
backend runs in another interpreter, without inferwire).  Built in milliseconds, nothing
downloaded; generation is deterministic for a prompt and seed.
"""
from __future__ import annotations

import random
import zlib
from collections import Counter, defaultdict

CORPUS = """\
the server reads the request, runs the model and writes the answer back to the client.
every packet that carries a byte of the request or of the answer has a time on the wire.
a token is a small piece of text; a stream sends the tokens one by one as they are made.
time to first token is how long the client waits before the first piece of the answer arrives.
the gap between two tokens tells how fast the model makes text once it has started.
the network, the client and the server each take a share of the time, and the capture splits it.
models answer questions, write stories and translate text one token after the other.
a batch of requests shares the model, so each request may wait while the others are served.
"""


class CharModel:
    """Character trigram counts of a text: ``next(context)`` -> (chars, weights)."""

    def __init__(self, text: str = CORPUS):
        table: dict[str, Counter] = defaultdict(Counter)
        padded = "  " + text
        for k in range(2, len(padded)):
            table[padded[k - 2:k]][padded[k]] += 1
        self.table = {ctx: (tuple(c), tuple(c.values())) for ctx, c in table.items()}
        self.alphabet = tuple(sorted(set(text)))

    def generate(self, prompt: str, n: int, seed: int | None = None) -> list[str]:
        """``n`` characters following ``prompt`` (deterministic for the prompt and seed)."""
        rng = random.Random(zlib.crc32(prompt.encode("utf-8")) if seed is None else seed)
        ctx = ("  " + prompt)[-2:]
        out = []
        for _ in range(n):
            chars, weights = self.table.get(ctx) or self.table.get(" " + ctx[-1]) or \
                (self.alphabet, None)
            ch = rng.choices(chars, weights)[0]
            out.append(ch)
            ctx = ctx[-1] + ch
        return out
