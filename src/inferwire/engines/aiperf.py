"""NVIDIA AIPerf (``aiperf profile``) as a capture-run engine for streamed completions.

AIPerf measures time to first token and inter-token latency per request, at the client.  It runs
from its own venv (``.venv-aiperf``, made by scripts/setup.sh: it pins packages the main venv holds
at other versions) against the embedded server's ``/v1/completions`` (``--stream-tokens N``: its
``--osl``), closed loop (``--concurrency`` = users) or open loop (``--request-rate``), for
``requests`` requests (or ``duration_s``).  It wants a tokenizer and nothing may be downloaded:
the project gives it one it makes, :func:`write_char_tokenizer` (one token per character, as the
server's model counts them; a Hugging Face ``tokenizer.json`` + ``tokenizer_config.json`` loaded by
path, with ``HF_HUB_OFFLINE`` unset since AIPerf's offline mode looks local paths up in the hub
cache).  AIPerf sends an ``X-Request-ID`` per request and exports it with its per-request metrics
(``--export-level records``: ``profile_export.jsonl``), which become the client log
(``client_log_rest.csv``): the capture joins to it by request id.  No warm-up (AIPerf's warm-up
requests are not exported).  Files: ``aiperf/`` (its artifacts), ``aiperf_tokenizer/``,
``aiperf_rest_output.txt``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import LoadError
from ..reference.summary import ToolSummary
from ..reference.toolrun import run_tool, time_limit_s
from ..serving.completions import MODEL_NAME

VENV = Path(__file__).resolve().parents[3] / ".venv-aiperf"
#: The characters of the tokenizer's vocabulary (printable ASCII, newline, tab).
CHARS = [chr(c) for c in range(32, 127)] + ["\n", "\t"]


def aiperf_path() -> Path:
    """The ``aiperf`` executable (``$INFERWIRE_AIPERF``, else ``.venv-aiperf/bin/aiperf``)."""
    path = Path(os.environ.get("INFERWIRE_AIPERF") or VENV / "bin" / "aiperf")
    if not path.is_file():
        raise LoadError(f"aiperf not found at {path}: run scripts/setup.sh (it creates "
                        ".venv-aiperf with aiperf), or set INFERWIRE_AIPERF")
    return path


def write_char_tokenizer(directory: Path) -> Path:
    """A character-level Hugging Face tokenizer in ``directory`` (made here, no download)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for ch in CHARS:
        vocab.setdefault(ch, len(vocab))
    tokenizer = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
                 "normalizer": None, "post_processor": None, "decoder": {"type": "Fuse"},
                 "pre_tokenizer": {"type": "Split", "pattern": {"String": ""},
                                   "behavior": "Isolated", "invert": False},
                 "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}}
    (directory / "tokenizer.json").write_text(json.dumps(tokenizer))
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "<unk>", "bos_token": "<s>",
        "eos_token": "</s>", "model_max_length": 1 << 20}))
    return directory


def aiperf_command(aiperf: Path, config, url: str, tokenizer: Path, out: Path) -> list[str]:
    """The ``aiperf profile`` argv of a streamed run."""
    argv = [str(aiperf), "profile", "--model", MODEL_NAME, "--tokenizer", str(tokenizer),
            "--url", url, "--endpoint-type", "completions", "--streaming",
            "--isl", "16", "--osl", str(config.stream_tokens),
            "--export-level", "records", "--output-artifact-dir", str(out), "--ui-type", "none"]
    if config.mode == "open":
        argv += ["--request-rate", f"{config.rate:g}"]
    else:
        argv += ["--concurrency", str(config.users)]
    if config.requests is not None:
        argv += ["--request-count", str(config.requests)]
    else:
        argv += ["--benchmark-duration", f"{config.duration_s:g}"]
    return argv


def client_rows(records_path: Path) -> list:
    """AIPerf's per-request records as :class:`~inferwire.load.RequestRecord` rows."""
    from ..load import RequestRecord  # deferred: load imports numpy
    rows = []
    with open(records_path, encoding="utf-8") as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue                    # a line cut by a crash
            meta, metrics = r.get("metadata") or {}, r.get("metrics") or {}
            start, end = meta.get("request_start_ns"), meta.get("request_end_ns")
            ttft = (metrics.get("time_to_first_token") or {}).get("value")
            gaps = sorted((metrics.get("inter_chunk_latency") or {}).get("value") or [])
            error = r.get("error")
            rows.append(RequestRecord(
                meta.get("x_request_id") or "", 0, "measure", start, start, end, not error,
                None if error else 200, error=None if not error else str(error)[:200],
                first_token_ns=None if ttft is None else start + round(ttft * 1e6),
                tokens=(metrics.get("output_token_count") or {}).get("value"),
                itl_p50_ms=_median(gaps), itl_max_ms=gaps[-1] if gaps else None))
    return rows


def _median(v: list) -> float | None:
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def run(ctx) -> ToolSummary:
    """Run AIPerf under the capture; its per-request records become the client log."""
    from ..load import ClientLogWriter  # deferred: load imports numpy
    config, t, d = ctx.config, ctx.targets, ctx.run_dir
    if ctx.protocol != "rest" or config.stream_tokens is None:
        raise LoadError("--engine aiperf drives streamed completions: give --stream-tokens N "
                        "and --protocol rest")
    aiperf = aiperf_path()
    tokenizer = write_char_tokenizer(d / "aiperf_tokenizer")
    argv = aiperf_command(aiperf, config, f"http://{t['host']}:{t['rest_port']}", tokenizer,
                          d / "aiperf")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    ctx.say(f"aiperf: {' '.join(argv[1:])}")
    names = {"output": "aiperf_rest_output.txt", "records": "aiperf/profile_export.jsonl"}
    done = run_tool(argv, d / names["output"], stop=ctx.stop, env=env,
                    timeout_s=time_limit_s(config.duration_s, config.requests))
    records_path = d / names["records"]
    rows = client_rows(records_path) if records_path.is_file() else []
    writer = ClientLogWriter(d / f"client_log_{ctx.protocol}.csv")
    try:
        for row in rows:
            writer.on_request(row)
    finally:
        writer.close()
    summary = ToolSummary("aiperf", ctx.protocol, argv=argv, exit_code=done.exit_code,
                          started_ns=done.started_ns, finished_ns=done.finished_ns,
                          requests=len(rows), ok=sum(r.ok for r in rows),
                          errors=sum(not r.ok for r in rows), outputs=names,
                          interrupted=done.interrupted, join="id",
                          stopped_early=done.stopped or done.timed_out)
    if not rows:
        summary.notes.append(f"no per-request records in {records_path}")
    ctx.say(summary.describe())
    return summary
