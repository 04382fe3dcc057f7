"""``summary.md``: where the time went in one run, in words and small tables."""
from __future__ import annotations

from pathlib import Path
from collections import Counter

import numpy as np

from ..columns import PHASE_COLUMNS
from ..errors import InferwireError
from ..runfolder import SUMMARY

#: Median columns of the "where the time went" table, in reading order.
BREAKDOWN = (("client_ms", "client"), ("client_before_ms", "client before wire"),
             ("request_ms", "sending"), ("wait_ms", "waiting"), ("server_ms", "server handling"),
             ("model_ms", "model"), ("response_ms", "receiving"),
             ("client_after_ms", "client after wire"), ("total_ms", "wire total"))


def _med(series) -> float:
    v = series.dropna().to_numpy(dtype=float)
    return float(np.median(v)) if len(v) else float("nan")


def _fmt(x) -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def write_summary(run_dir: Path, manifest: dict, analysis, joined) -> str:
    """Write ``run_dir/summary.md`` and return its text."""
    lines = [f"# inferwire run `{run_dir.name}`", ""]
    lines += _facts(manifest)
    if joined is not None:
        joined = joined[joined["client_phase"].fillna("measure") != "warmup"]
        lines += ["", "## Where the time went (medians, ms)", ""] + _breakdown(joined)
        lines += [""] + _sentences(joined) + _unjoined(joined)
    if joined is not None and "triton_trace_id" in joined:
        from ..serving.triton.summary import triton_section  # deferred: serving.triton.summary imports pandas
        lines += [""] + triton_section(joined, manifest)
    if manifest.get("network"):
        from ..netns.report import section  # deferred: netns.report imports pandas
        lines += section(manifest, joined, getattr(analysis, "connections", None))
    if analysis is not None:
        from .streaming_summary import run_streaming_section  # deferred: experiment.streaming_summary imports pandas
        lines += run_streaming_section(run_dir, manifest, analysis.requests)
        lines += ["", "## Phases seen on the wire (p50 / p90 / p99, ms)", ""] + _phases(analysis)
        if "error" in analysis.requests and analysis.requests["error"].notna().any():
            lines += ["", "## Errors the server sent, read from the wire", ""]
            lines += _errors(analysis.requests)
    lines += ["", "## Load, as the client saw it", ""] + _loads(manifest)
    if manifest.get("loads"):
        lines += ["", "## The load tool against the wire", ""] + tool_vs_wire_lines(run_dir)
    if manifest.get("resources"):
        lines += ["", "## CPU and memory during the run", ""] + _resources(manifest["resources"])
    lines += ["", "## Files", "", _files(run_dir) + ": every file 0600 and the folder 0700 "
              "(the capture and the tools' request bodies hold payloads). Column definitions: "
              "docs/columns.md."]
    text = "\n".join(lines) + "\n"
    (run_dir / SUMMARY).write_text(text)
    return text


FILES_NAMED = 40     # a ring capture or a sweep can leave hundreds: the rest are counted


def _files(run_dir: Path) -> str:
    """The files the run left (this summary included), by name: only what is there, so a run
    cut before its capture does not list a capture."""
    names = sorted({p.name for p in run_dir.iterdir() if p.is_file()} | {SUMMARY})
    more = len(names) - FILES_NAMED
    return ", ".join(names[:FILES_NAMED]) + (f" and {more} more" if more > 0 else "")


def _facts(m: dict) -> list[str]:
    out = [f"- status: **{m.get('status')}**"]
    out += [f"- problem: {p}" for p in m.get("problems", [])]
    s = m.get("server") or {}
    if s:
        out.append(f"- server: {s.get('kind')} at {s.get('host')}, gRPC :{s.get('grpc_port')}, "
                   f"REST :{s.get('rest_port')}, model `{s.get('model_name')}`")
    c = m.get("capture")
    if c and "tool" not in c:           # the run ended before it could stop the capture
        out.append(f"- capture: not stopped by the run; files: {', '.join(c.get('files', []))}")
    elif c:
        dropped = c.get("dropped")
        drop_text = ("**unknown** (no tool or interface statistics reported drops)"
                     if dropped is None else ("0" if dropped == 0 else f"**{dropped} DROPPED**"))
        out.append(f"- capture: {c.get('tool')} on {c.get('interface')}, {c.get('packets')} "
                   f"packets, dropped: {drop_text}; filter `{c.get('capture_filter')}`")
    a = m.get("analysis")
    if a and "skipped" in a:
        out.append(f"- analysis: not done: {a['skipped']}")
    elif a:
        out.append(f"- analysis: {a['requests']} requests on {a['connections']} connections, "
                   f"{a['warning_count']} warnings")
    return out


def _breakdown(j) -> list[str]:
    heads = ["workload", "requests", "in capture"] + [h for _, h in BREAKDOWN]
    out = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for name, g in j.groupby(j["workload"].fillna("(not in client log)"), sort=True):
        found = int(g["in_capture"].sum())
        cells = [str(name), str(len(g)), str(found)] + [_fmt(_med(g[c])) for c, _ in BREAKDOWN]
        out.append("| " + " | ".join(cells) + " |")
    return out


def tool_vs_wire_lines(run_dir: Path) -> list[str]:
    """Markdown: the load tool's own figures beside the wire's for the same requests
    (:mod:`inferwire.compare`), and where they differ beyond the tool's resolution."""
    from ..compare import markdown, tool_vs_wire  # deferred: compare imports pandas
    try:
        table, said = tool_vs_wire(run_dir)
    except InferwireError as exc:
        return [f"(not compared: {exc})"]
    out = [markdown(table), "", "Where they differ beyond the tool's resolution (latency) or "
           "by more than 1 % (counts, throughput):", ""]
    for protocol, words in said.items():
        tool = table.loc[table["protocol"] == protocol, "tool"].iloc[0]
        if not words:
            out.append(f"- **{protocol}** ({tool}): nowhere; they agree.")
        out += [f"- **{protocol}** ({tool}): {w}." for w in words]
    return out


def _sentences(j) -> list[str]:
    out = []
    for name, g in j.groupby("workload", sort=True):
        client, wait, model = _med(g["client_ms"]), _med(g["wait_ms"]), _med(g["model_ms"])
        total = _med(g["total_ms"])
        if np.isnan(client) and not np.isnan(total):
            out.append(_wire_sentence(name, g, total, wait, model))
            continue
        if np.isnan(client) or np.isnan(total):
            continue
        server = _med(g["server_ms"])
        words = (f"- **{name}**: the client waited {client:.3f} ms (median); {total:.3f} ms of it "
                 f"was on the wire ({100 * total / client:.0f}%), {wait:.3f} ms of that waiting "
                 f"for the response")
        if not np.isnan(server):
            words += f", which the server spent {server:.3f} ms handling"
        if not np.isnan(model):
            words += (f"; the model itself took {model:.3f} ms "
                      f"({100 * model / client:.0f}% of the client's time)")
        missing = int((~g["in_capture"].astype(bool)).sum())
        if missing:
            words += f". {missing} requests of the client's log are NOT in the capture"
        out.append(words + ".")
    return out


def _unjoined(j) -> list[str]:
    """Say how many captured requests got no server-log times, when others did (the server
    logged): multiplexed HTTP/2 streams without ids, or counts that differ on a connection."""
    if "server_join" not in j or j["server_join"].isna().all():
        return []
    wire = j[j["in_capture"].astype(bool)]
    out = []
    for name, g in wire.groupby("workload", sort=True):
        missing = int(g["server_join"].isna().sum())
        if missing:
            out.append(f"- **{name}**: {missing} of {len(g)} requests on the wire have no "
                       "server-log times (no request id, and their connection's order could "
                       "not be matched with certainty: multiplexed streams, or counts that "
                       "differ): the server and model medians above are of the others.")
    return out


def _wire_sentence(name, g, total: float, wait: float, model: float) -> str:
    """For requests in no client log (ab, h2load, a locustfile without ids)."""
    words = (f"- **{name}** (no client log: the tool's own figures are below): "
             f"{total:.3f} ms on the wire (median), {wait:.3f} ms of it waiting for the response")
    server = _med(g["server_ms"])
    if not np.isnan(server):
        how = ", ".join(sorted(g["server_join"].dropna().astype(str).unique()))
        words += f", which the server spent {server:.3f} ms handling"
        if not np.isnan(model):
            words += f"; the model itself took {model:.3f} ms ({100 * model / total:.0f}%)"
        words += f" (server log joined by {how})"
    return words + "."


def _phases(analysis) -> list[str]:
    summary = analysis.summary()
    if summary.empty:
        return ["(no requests found in the capture)"]
    cols = [c for c in PHASE_COLUMNS if not summary[[f"{c}_p50"]].isna().all().all()]
    out = ["| protocol | requests | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for _, row in summary.iterrows():
        cells = [" / ".join(_fmt(row[f"{c}_p{q}"]) for q in (50, 90, 99)) for c in cols]
        out.append(f"| {row['protocol']} | {row['requests']} | " + " | ".join(cells) + " |")
    return out


def _errors(requests, top: int = 10) -> list[str]:
    """The most frequent error messages on the wire (the ``error`` column), with counts."""
    failed = requests[requests["error"].notna()]
    code = failed["grpc_status"].astype("string").fillna(failed["status"].astype("string"))
    counts = (failed.assign(code=code).groupby(["protocol", "code", "error"], dropna=False)
              .size().sort_values(ascending=False, kind="stable"))
    out = ["| protocol | status | requests | error |", "|---|---|---|---|"]
    for (protocol, status, error), n in counts.head(top).items():
        text = str(error).replace("|", "\\|").replace("\n", " ")[:200]
        out.append(f"| {protocol} | {status} | {n} | {text} |")
    if len(counts) > top:
        out.append(f"| | | {int(counts.iloc[top:].sum())} | ({len(counts) - top} other messages) |")
    return out


def _loads(m: dict) -> list[str]:
    out = ["| workload | sent | ok | errors | throughput /s | p50 ms | p99 ms |",
           "|---|---|---|---|---|---|---|"]
    for name, s in (m.get("loads") or {}).items():
        lat = s.get("latency_ms") or {}
        out.append(f"| {name} | {s.get('requests')} | {s.get('ok')} | {s.get('errors')} | "
                   f"{_fmt(s.get('throughput_per_s'))} | {_fmt(lat.get('p50'))} | "
                   f"{_fmt(lat.get('p99'))} |")
    return out


#: What each sampled role is, in the CPU and memory table (inferwire.experiment.resources).
ROLE_WORDS = {
    "load generator": "this run's process (inferwire's load threads, orchestration, sampling) "
                      "and the load tools it starts",
    "server": "the model server",
    "capture": "the capture tool and its watchdog",
    "rest of host": "every other process: host CPU and memory in use less the roles above",
    "system": "the whole host (CPU in % of all cores)",
    "client": "the run's process and all its children (older runs: server and capture "
              "included)",
}
ROLE_ORDER = ("load generator", "client", "server", "capture", "rest of host", "system")


def resource_rows(res: dict) -> list[dict]:
    """One row per sampled role, in reading order: what it is (and which processes), mean and
    max CPU (% of one core, except the host's), peak RSS (MB)."""
    rows = []
    for role in sorted(res, key=lambda r: (ROLE_ORDER.index(r) if r in ROLE_ORDER else 99, r)):
        r = res[role]
        names = Counter(n.rsplit(":", 1)[0] for n in r.get("processes") or [])
        seen = ", ".join(f"{n} ×{k}" if k > 1 else n for n, k in sorted(names.items()))
        what = ROLE_WORDS.get(role, "")
        rss = r.get("rss_max_bytes")
        rows.append({"role": role, "what": f"{what}: {seen}" if seen and what else what or seen,
                     "CPU mean %": r.get("cpu_percent_mean"),
                     "CPU max %": r.get("cpu_percent_max"),
                     "peak RSS MB": rss / 1e6 if rss else None})
    return rows


def _resources(res: dict) -> list[str]:
    out = ["| role | what (processes seen) | CPU mean % | CPU max % | peak RSS MB |",
           "|---|---|---|---|---|"]
    for r in resource_rows(res):
        out.append(f"| {r['role']} | {r['what']} | {_fmt(r['CPU mean %'])} | "
                   f"{_fmt(r['CPU max %'])} | {_fmt(r['peak RSS MB'])} |")
    out += ["", "CPU in % of one core (100 = one core busy), except the host's row "
            "(\"system\": 100 = all cores busy)."]
    return out
