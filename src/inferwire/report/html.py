"""One self-contained HTML report per run: facts, summary tables and the plots as embedded PNGs.

No scripts, no external files: the page opens anywhere (mail it, attach it to a ticket).  Every
text from the run is HTML-escaped.
"""
from __future__ import annotations

import base64
import html
import io
import os
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from .. import __version__
from ..columns import PHASE_COLUMNS
from ..compare import PERCENTS, tool_vs_wire
from ..errors import InferwireError
from ..experiment.streaming_summary import streaming_table
from ..experiment.summary import resource_rows
from ..runfolder.logs import read_client_logs
from .run import Run, as_run

#: Plot name -> caption, in page order.
CAPTIONS = {
    "phases": "Mean time per request: the model, the server outside it, the network and "
              "stack, transfer, connection set-up (amortised over requests) and the client.",
    "cdf": "Latency CDF of total_ms (first request byte to last response byte), p50/p90/p99; "
           "the axis ends at p99.9, the tail beyond it said under it.",
    "waterfall": "The first measured requests of the run (warm-up left out), DevTools style.",
    "timeline": "Throughput and latency over time, 1 s bins of the capture (and locust's own "
                "numbers when it ran).",
    "bytes_vs_batch": "HTTP body bytes per request against the batch size.",
    "cpu": "CPU by role during the run: load generator, server, capture, rest of host, host.",
    "locust": "locust's stats history.",
}
#: Medians of the "where the time went" table: (column, heading), in time order.
BREAKDOWN = (("client_ms", "client"), ("client_before_ms", "client before wire"),
             ("request_ms", "sending"), ("wait_ms", "waiting"), ("server_ms", "server handling"),
             ("model_ms", "model"), ("response_ms", "receiving"),
             ("client_after_ms", "client after wire"), ("total_ms", "wire total"))
CONNECTION_VIEW = ("connection", "protocol", "client", "server", "tls_version", "alpn",
                   "requests", "tcp_handshake_ms", "tls_handshake_ms", "h2_setup_ms",
                   "retransmissions", "missing_bytes", "end", "warnings")
MAX_ROWS = 50

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#1d1d1f}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.8em;border-bottom:1px solid #ddd}
.meta{color:#666} table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right} th{background:#f4f4f6}
td:first-child,th:first-child{text-align:left} figure{margin:1.2em 0}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:13px} .bad{color:#b00020;font-weight:600}
.ok{color:#1b7f3b;font-weight:600} ul.facts li{margin:.15em 0} code{font-size:12px}
.missing{color:#777;font-style:italic} .scroll{overflow-x:auto}
table.text td{text-align:left}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def figure_png(fig, dpi: int = 100) -> bytes:
    """``fig`` as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _img(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="fig-{_e(name)}"><img alt="{_e(name)} plot" '
            f'src="data:image/png;base64,{data}"><figcaption>{_e(CAPTIONS.get(name, name))}'
            "</figcaption></figure>")


def _table(df: pd.DataFrame, text: bool = False) -> str:
    """``df`` as an HTML table in a scrolling box; empty cells for missing values (NaN and NA
    alike); numbers right-aligned unless ``text``."""
    if df is None or df.empty:
        return '<p class="missing">(none)</p>'
    shown = df.copy()
    for col in shown.columns:
        if not pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].astype(object).where(shown[col].notna(), "")
    body = shown.to_html(index=False, na_rep="", float_format=lambda x: f"{x:.3f}", border=0,
                         escape=True, classes="text" if text else None)
    return f'<div class="scroll">{body}</div>'



# -- sections ------------------------------------------------------------------------------------
def facts(run: Run) -> list[str]:
    """The run's facts as HTML list items: status, problems, server, capture and its drops,
    analysis, load configuration."""
    m = run.manifest
    items = []
    if m:
        status = m.get("status")
        cls = "ok" if status == "ok" else "bad"
        items.append(f'status: <span class="{cls}">{_e(status)}</span>')
        items += [f'<span class="bad">problem: {_e(p)}</span>' for p in m.get("problems", [])]
        s = m.get("server") or {}
        if s:
            items.append(f"server: {_e(s.get('kind'))} at {_e(s.get('host'))}, gRPC "
                         f":{_e(s.get('grpc_port'))}, REST :{_e(s.get('rest_port'))}, model "
                         f"<code>{_e(s.get('model_name'))}</code>")
        items += _capture_facts(m.get("capture"))
        items += _config_facts(m.get("config") or {})
    else:
        items.append(f"capture file <code>{_e(run.capture_path or run.path)}</code> "
                     "(no run manifest: no client log, no load facts)")
    items += _capture_stats_facts(run.capture)
    items.append(f"analysis: {len(run.requests)} requests on {len(run.connections)} connections, "
                 f"{len(run.warnings)} warnings")
    return items


def _capture_facts(c: dict | None) -> list[str]:
    if not c:
        return ['<span class="bad">capture: no capture facts in the manifest</span>']
    dropped = c.get("dropped")
    if dropped is None:
        drop = '<span class="bad">unknown</span> (neither the tool nor the interface reported)'
    elif dropped == 0:
        drop = '<span class="ok">0</span>'
    else:
        drop = f'<span class="bad">{_e(dropped)} DROPPED</span>'
    by = ", ".join(f"{_e(k)} {_e(v)}" for k, v in (c.get("dropped_by") or {}).items())
    return [f"capture: {_e(c.get('tool'))} on {_e(c.get('interface'))}, {_e(c.get('packets'))} "
            f"packets, dropped: {drop}{f' ({by})' if by else ''}; filter "
            f"<code>{_e(c.get('capture_filter'))}</code>"]


def _capture_stats_facts(stats) -> list[str]:
    """Drops from the file's own interface statistics blocks (when the capture was read)."""
    if stats is None:
        return []
    out = [f"capture file: {_e(stats.file_format)}, {stats.packets} packets ({stats.tcp_packets} "
           "TCP)"]
    for iface, counters in (stats.drops or {}).items():
        lost = sum(v or 0 for k, v in counters.items() if k in ("ifdrop", "osdrop"))
        text = ", ".join(f"{_e(k)} {_e(v)}" for k, v in counters.items() if v is not None)
        cls = "bad" if lost else "ok"
        out.append(f'interface {_e(iface)} statistics: <span class="{cls}">{lost} dropped</span>'
                   f" ({text})")
    return out


def _config_facts(cfg: dict) -> list[str]:
    if not cfg:
        return []
    load = (f"{cfg.get('users')} users closed loop" if cfg.get("mode") == "closed"
            else f"{cfg.get('rate')} req/s {cfg.get('arrival')} open loop")
    much = (f"{cfg.get('duration_s')} s" if cfg.get("duration_s")
            else f"{cfg.get('requests')} requests")
    return [f"load: {_e(', '.join(cfg.get('protocols') or []))} with {_e(cfg.get('engine'))}, "
            f"batch size {_e(cfg.get('batch_size'))}, {_e(load)}, {_e(much)} per protocol, "
            f"{_e(cfg.get('connection'))} connections, encoding "
            f"{_e(', '.join(cfg.get('encoding') or []) or 'client default')}"]


def phase_table(run: Run) -> pd.DataFrame:
    """Rows: phases; columns: "<protocol> p50/p90/p99" (ms)."""
    summary = run.summary()
    rows = []
    for col in PHASE_COLUMNS:
        row = {"phase (ms)": col}
        for _, s in summary.iterrows():
            vals = [s[f"{col}_p{q}"] for q in (50, 90, 99)]
            row[f"{s['protocol']} p50 / p90 / p99"] = (
                "" if all(np.isnan(v) for v in vals) else " / ".join(f"{v:.3f}" for v in vals))
        if any(v for k, v in row.items() if k != "phase (ms)"):
            rows.append(row)
    counts = {"phase (ms)": "requests (complete)"}
    counts.update({f"{s['protocol']} p50 / p90 / p99": f"{s['requests']} ({s['complete']})"
                   for _, s in summary.iterrows()})
    return pd.DataFrame([counts] + rows)


def breakdown_table(run: Run) -> pd.DataFrame | None:
    """Per workload: requests, found in the capture, and the median of each BREAKDOWN column."""
    if run.joined is None:
        return None
    t = run.table()
    rows = []
    for name, g in t.groupby(t["workload"].fillna("(no client log)"), sort=True):
        row = {"workload": name, "requests": len(g),
               "in capture": int(g["in_capture"].fillna(False).sum())}
        for col, head in BREAKDOWN:
            v = pd.to_numeric(g[col], errors="coerce").dropna()
            row[head] = float(v.median()) if len(v) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def load_table(run: Run) -> pd.DataFrame | None:
    loads = run.manifest.get("loads") or {}
    if not loads:
        return None
    return pd.DataFrame([{
        "workload": name, "sent": s.get("requests"), "ok": s.get("ok"),
        "errors": s.get("errors"), "throughput /s": s.get("throughput_per_s"),
        "p50 ms": (s.get("latency_ms") or {}).get("p50"),
        "p99 ms": (s.get("latency_ms") or {}).get("p99")} for name, s in loads.items()])


def resource_table(run: Run) -> pd.DataFrame | None:
    """Per sampled role (load generator, server, capture, rest of host, host): what it is, its
    CPU and peak memory (:func:`inferwire.experiment.summary.resource_rows`)."""
    res = run.manifest.get("resources") or {}
    return pd.DataFrame(resource_rows(res)) if res else None


def _tool_vs_wire(run: Run) -> list[str]:
    """The load tool's own figures beside the wire's, and where they disagree."""
    parts = ["<h2>The load tool against the wire</h2>"]
    try:
        table, said = tool_vs_wire(run.path)
    except InferwireError as exc:
        return parts + [f'<p class="missing">not compared: {_e(exc)}</p>']
    view = pd.DataFrame({
        "tool": table["tool"], "protocol": table["protocol"], "joined by": table["join"],
        "requests tool": table["requests_tool"], "requests wire": table["requests_wire"],
        "req/s tool": table["throughput_tool_per_s"], "req/s wire": table["throughput_wire_per_s"],
        **{f"p{p} ms {w}": table[f"p{p}_{w}_ms"] for p in PERCENTS for w in ("tool", "wire")},
        "tool overhead ms": table["overhead_ms"], "latency from": table["latency_source"]})
    items = []
    for protocol, words in said.items():
        items += [f"<li><b>{_e(protocol)}</b>: {_e(w)}</li>" for w in words] or [
            f"<li><b>{_e(protocol)}</b>: they agree within the tool's resolution</li>"]
    return parts + [_table(view), "<p>Where they differ beyond the tool's resolution (latency) "
                    "or by more than 1 % (counts, throughput):</p><ul>" + "".join(items)
                    + "</ul>"]


# -- the page ------------------------------------------------------------------------------------
def render_html(run, figures: dict | None = None, links: dict | None = None) -> str:
    """The report page of ``run`` (a Run or an Analysis).  ``figures``: plot name -> Figure, PNG
    bytes or the reason it was not drawn (default: every plot of ``run.plot.available()``);
    ``links``: label -> relative path of files next to the page."""
    run = as_run(run)
    if figures is None:
        figures = run.plot.available()
    parts = [f"<h1>inferwire report: {_e(run.name)}</h1>",
             f'<p class="meta">made {_e(time.strftime("%Y-%m-%d %H:%M:%S %Z"))} by inferwire '
             f"{_e(__version__)} from <code>{_e(run.path)}</code></p>",
             "<h2>Facts</h2><ul class=\"facts\">"
             + "".join(f"<li>{i}</li>" for i in facts(run)) + "</ul>"]
    breakdown = breakdown_table(run)
    if breakdown is not None:
        parts += ["<h2>Where the time went (medians, ms)</h2>", _table(breakdown)]
    parts += ["<h2>Phases seen on the wire</h2>", _table(phase_table(run))]
    parts += _streaming(run)
    for title, df in (("Load, as the client saw it", load_table(run)),
                      ("CPU and memory", resource_table(run))):
        if df is not None:
            parts += [f"<h2>{title}</h2>", _table(df, text=title.startswith("CPU"))]
        if title.startswith("Load") and df is not None:
            parts += _tool_vs_wire(run)
    parts += ["<h2>Plots</h2>"] + _figures(figures)
    parts += [f"<h2>Connections (first {MAX_ROWS})</h2>",
              _table(run.connections[[c for c in CONNECTION_VIEW if c in run.connections]]
                     .head(MAX_ROWS))]
    parts += _warnings(run) + _environment(run) + _links(links)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>inferwire report: {_e(run.name)}</title><style>{CSS}</style></head>"
            "<body>\n" + "\n".join(parts) + "\n</body></html>\n")


def _streaming(run: Run) -> list[str]:
    """Streamed requests: TTFT and inter-token gaps split as in summary.md (issue 20)."""
    requests = run.requests
    if "response_messages" not in requests or not requests["response_messages"].notna().any():
        return []
    client = read_client_logs(Path(run.path)) if Path(run.path).is_dir() else None
    table = streaming_table(requests, client)
    return ["<h2>Streaming: time to first token and between tokens</h2>", _table(table)]


def _figures(figures: dict) -> list[str]:
    out, skipped = [], []
    for name, fig in figures.items():
        if isinstance(fig, str):
            skipped.append(f"<li>{_e(name)}: {_e(fig)}</li>")
        else:
            out.append(_img(name, fig if isinstance(fig, bytes) else figure_png(fig)))
    if skipped:
        out.append('<p class="missing">Not drawn:</p><ul class="missing">' + "".join(skipped)
                   + "</ul>")
    return out


def _warnings(run: Run) -> list[str]:
    if not run.warnings:
        return ["<h2>Warnings</h2><p class=\"ok\">none</p>"]
    shown = run.warnings[:100]
    more = len(run.warnings) - len(shown)
    return [f"<h2>Warnings ({len(run.warnings)})</h2><ul>"
            + "".join(f"<li>{_e(w)}</li>" for w in shown)
            + (f"<li>... and {more} more</li>" if more else "") + "</ul>"]


def _environment(run: Run) -> list[str]:
    env = run.manifest.get("environment") or {}
    if not env:
        return []
    rows = pd.DataFrame([{"fact": k, "value": str(v)} for k, v in env.items()])
    return ["<h2>Environment</h2>", _table(rows, text=True)]


def _links(links: dict | None) -> list[str]:
    if not links:
        return []
    items = "".join(f'<li><a href="{_e(quote(str(path)))}">{_e(label)}</a></li>'
                    for label, path in links.items())
    return [f"<h2>Files</h2><ul>{items}</ul>"]


def write_html(run, path: str | os.PathLike, figures: dict | None = None,
               links: dict | None = None) -> Path:
    """Write :func:`render_html` to ``path``; return the path."""
    p = Path(path)
    p.write_text(render_html(run, figures, links), encoding="utf-8")
    return p
