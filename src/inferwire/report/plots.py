"""Plots of where the time went: ``analysis.plot.phases()``, ``run.plot.cdf()``, ...

Each method returns a :class:`matplotlib.figure.Figure` drawn with the Agg canvas (no pyplot, no
display needed; in Jupyter, ``%matplotlib inline`` shows it).  Axes carry their units.  The source
is an :class:`inferwire.analysis.Analysis`, a :class:`inferwire.report.run.Run`, a list of runs
(a sweep: grouped by batch size and encoding) or a DataFrame with the per-request columns.
A plot that has nothing to draw raises :class:`inferwire.errors.InferwireError` saying why.
"""
from __future__ import annotations

import tempfile


import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import InferwireError
from .timings import entry_timings
from matplotlib.patches import Patch
from .locust import aggregated

#: (column, legend label, colour) of the stacked phase bars: the client's own time, the
#: connection's set-up, moving the bytes, then the wait split into the network and stack, the
#: server outside the model and the model itself (the last three need the server log).
SEGMENTS = (
    ("client_part_ms", "client (before its first byte, after its last; HTTP/2 preface)",
     "#bdbdbd"),
    ("setup_ms", "connection set-up (TCP, TLS, HTTP/2 SETTINGS)", "#ff9f1c"),
    ("transfer_ms", "transfer (sending the request, receiving the response)", "#2ec4b6"),
    ("network_ms", "network and stack (waiting, outside the server)", "#457b9d"),
    ("server_rest_ms", "server outside the model (server log)", "#f4a261"),
    ("model_ms", "model (inside the model call, server log)", "#e63946"),
    ("wait_unsplit_ms", "waiting: server and network (no server log)", "#8ecae6"),
)
#: Colours of the waterfall's bars.
COLOR = {"tcp_ms": "#ff9f1c", "ssl_ms": "#9b5de5", "h2_ms": "#f15bb5", "send_ms": "#2ec4b6",
         "wait_ms": "#457b9d", "receive_ms": "#1d3557", "client": "#e0e0e0"}
#: Fewest values a distribution, bins a time line, rows a history must have to be drawn.
FEWEST = 3
GROUP_KEYS = ("protocol", "batch_size", "encoding")
PERCENTILES = (50, 90, 99)


class ReportFigure(Figure):
    """A matplotlib Figure on the Agg canvas whose ``show()`` works anywhere: in Jupyter it
    displays the figure; elsewhere (a script, a terminal, a headless host) it saves it as a PNG
    in the temporary folder and prints where, since there is no window to open."""

    def show(self, warn: bool = True) -> None:  # noqa: ARG002 - Figure.show's signature
        try:
            from IPython import get_ipython  # deferred: IPython is optional (notebooks)
            shell = get_ipython()
        except ImportError:
            shell = None
        if shell is not None and getattr(shell, "kernel", None) is not None:
            from IPython.display import display  # deferred: IPython is optional (notebooks)
            display(self)
            return
        fd, path = tempfile.mkstemp(prefix="inferwire-figure-", suffix=".png")
        with open(fd, "wb") as f:
            self.savefig(f, format="png")
        print(f"figure saved to {path} (no display here; fig.savefig(PATH) to choose where)")


def new_figure(width: float = 9.0, height: float = 4.5) -> Figure:
    """A :class:`ReportFigure` on the Agg canvas (never touches pyplot's global state)."""
    fig = ReportFigure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


class AnalysisPlots:
    """The plots of one analysis, run or sweep (see the module docstring)."""

    def __init__(self, runs, *, warmup: bool = False):
        """``runs``: :class:`~inferwire.report.run.Run` objects (:func:`inferwire.report.plot`
        makes them from an Analysis, a Run, a list of Runs or a DataFrame of requests)."""
        self.runs = list(runs)
        if not self.runs:
            raise InferwireError("nothing to plot: no runs given")
        odd = [type(r).__name__ for r in self.runs if not hasattr(r, "table")]
        if odd:
            raise InferwireError(f"AnalysisPlots takes Runs, not {odd[0]}: use "
                                 "inferwire.report.plot(source)")
        self.warmup = warmup

    # -- data --------------------------------------------------------------------------------
    def table(self) -> pd.DataFrame:
        """Per-request rows of every run (warm-up left out unless ``warmup``)."""
        return pd.concat([r.table(self.warmup) for r in self.runs], ignore_index=True)

    def timings(self, warmup: bool | None = None) -> pd.DataFrame:
        """:func:`inferwire.report.timings.entry_timings` of every run, stacked."""
        w = self.warmup if warmup is None else warmup
        frames = [entry_timings(r.table(w), r.connections) for r in self.runs]
        out = pd.concat(frames, ignore_index=True)
        if out.empty:
            raise InferwireError("no complete requests (first request byte to last response "
                                 "byte) to plot")
        return out

    def _group_keys(self, df: pd.DataFrame, by) -> list[str]:
        if by is not None:
            keys = [by] if isinstance(by, str) else list(by)
            missing = [k for k in keys if k not in df]
            if missing:
                raise InferwireError(f"cannot group by {missing[0]!r}: no such column")
            return keys
        # protocol always; batch size and encoding when known (a sweep varies them)
        return [k for k in GROUP_KEYS if k in df and (k == "protocol" or df[k].notna().any())]

    # -- plots -------------------------------------------------------------------------------
    def phases(self, by=None) -> Figure:
        """Stacked bars: mean time per request in each part (:data:`SEGMENTS`), one bar per
        group (protocol, batch size, encoding); the model's share written at the bar's end.
        Connection set-up is amortised over the group's requests, so each bar's length is the
        mean of the requests' whole time line (HAR ``time`` + client after)."""
        t = phase_parts(self.timings())
        keys = self._group_keys(t, by)
        groups = list(t.groupby(keys, dropna=False, sort=True))
        fig = new_figure(10, 2.4 + 0.6 * len(groups))
        ax = fig.add_subplot()
        labels = []
        for y, (key, g) in enumerate(groups):
            left = 0.0
            for col, label, colour in SEGMENTS:
                width = float(g[col].fillna(0.0).sum()) / len(g)   # amortised mean
                if width > 0:
                    ax.barh(y, width, left=left, color=colour, height=0.6,
                            label=None if label in _legend_labels(ax) else label)
                left += width
            model = float(g["model_ms"].fillna(0.0).sum()) / len(g)
            share = f", model {100 * model / left:.0f} %" if model > 0 and left > 0 else ""
            ax.text(left, y, f"  {left:.2f} ms{share}", va="center", fontsize=9)
            labels.append(f"{_group_label(keys, key)}\n({len(g)} requests)")
        ax.set_yticks(range(len(groups)), labels, fontsize=9)
        ax.invert_yaxis()
        ax.set_xlabel("mean time per request (ms); connection set-up amortised")
        ax.set_title("Where the time goes: model, server, network and stack, transfer, "
                     "set-up, client")
        ax.margins(x=0.3)
        fig.legend(fontsize=8, loc="outside lower center", ncols=2, frameon=False)
        return fig

    def cdf(self, column: str = "total_ms", by=None, log: bool = False) -> Figure:
        """Latency CDF of ``column`` (ms) per group, with p50/p90/p99 marked and labelled.  The
        x axis ends at p99.9 of all values, the tail beyond it said under the axis; ``log``:
        a log-scale axis over every value instead."""
        df = self.table()
        if column not in df:
            raise InferwireError(f"no column {column!r} to draw a CDF of")
        values = _num(df, column).dropna()
        if values.empty:
            raise InferwireError(f"no values of {column} to draw a CDF of")
        title = f"Latency distribution: {column}"
        if len(values) < FEWEST:
            return too_little(title, f"only {len(values)} values of {column}: a distribution "
                                     f"needs at least {FEWEST}")
        keys = self._group_keys(df, by)
        fig = new_figure(10, 5.6)
        ax = fig.add_subplot()
        for i, (key, g) in enumerate(df.groupby(keys, dropna=False, sort=True)):
            v = np.sort(_num(g, column).dropna().to_numpy())
            if len(v) == 0:
                continue
            marks = [float(np.percentile(v, q)) for q in PERCENTILES]
            words = " / ".join(f"p{q} {x:.2f}" for q, x in zip(PERCENTILES, marks))
            ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", color=f"C{i}",
                    label=f"{_group_label(keys, key)} (n={len(v)}): {words} ms")
            ax.plot(marks, [q / 100 for q in PERCENTILES], "o", color=f"C{i}", ms=5)
        for q in PERCENTILES:
            ax.axhline(q / 100, color="0.8", lw=0.8, ls=":", zorder=0)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(_cdf_axis(ax, column, values.to_numpy(float), log))
        ax.set_ylabel("fraction of requests")
        ax.set_title(title)
        fig.legend(fontsize=8, loc="outside lower center", ncols=1, frameon=False,
                   title="percentiles marked by dots", title_fontsize=8)
        return fig

    def waterfall(self, n: int = 20, start: int = 0, warmup: bool = False) -> Figure:
        """DevTools-style bars of requests ``start`` .. ``start+n`` of the first run's measured
        window (warm-up left out unless ``warmup``: then its bars are hatched and labelled), in
        time order: TCP/TLS handshakes and HTTP/2 set-up on each connection's first request,
        then sending, waiting, receiving; with a client log, the client's whole span behind."""
        run = self.runs[0]
        every = entry_timings(run.table(warmup=True), run.connections)
        measured = every if warmup else every[_phase_of(every) != "warmup"]
        t = measured.sort_values("start", kind="stable").iloc[start:start + n]
        t = t.reset_index(drop=True)
        if t.empty:
            raise InferwireError(f"no complete requests from position {start} to draw")
        t0 = float(t["start"].min())
        fig = new_figure(10, 1.8 + 0.32 * len(t))
        ax = fig.add_subplot()
        for y, row in t.iterrows():
            _waterfall_row(ax, y, row, t0)
        ax.set_yticks(range(len(t)), [_row_label(r) for _, r in t.iterrows()], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(f"time since the first bar (ms); t0 = {_clock(t0)} UTC")
        left_out = int((_phase_of(every) == "warmup").sum()) if not warmup else 0
        what = "requests" if warmup else "measured requests"
        ax.set_title(f"Waterfall of {what} {start + 1}-{start + len(t)}"
                     + (f" ({left_out} warm-up requests left out)" if left_out else ""))
        fig.legend(handles=_waterfall_legend(ax), fontsize=8, loc="outside lower center",
                   ncols=4, frameon=False)
        return fig

    def timeline(self, bin_s: float | None = None) -> Figure:
        """Throughput (responses completed per second) and latency (p50, p99 of total_ms) per
        ``bin_s`` bin of the capture, per protocol; locust's own numbers dashed when the run has
        a stats history.  ``bin_s`` None: 1 s, or less for a capture shorter than 5 s (so that
        it still has about 10 bins).  The first and last bins may be partly empty."""
        t = self.timings()
        t0 = float(t["start"].min())
        if bin_s is None:
            bin_s = auto_bin_s(float(t["response_end"].max()) - t0)
        bins = np.unique(np.floor((t["response_end"].to_numpy(float) - t0) / bin_s))
        if len(bins) < FEWEST:
            return too_little("Throughput and latency over time",
                              f"the responses fall in {len(bins)} bin(s) of {bin_s:g} s: a "
                              f"time line needs at least {FEWEST}")
        fig = new_figure(11, 6.5)
        ax_rate, ax_lat = fig.subplots(2, 1, sharex=True)
        for i, (proto, g) in enumerate(t.groupby("protocol", sort=True)):
            bins = np.floor((g["response_end"].to_numpy(float) - t0) / bin_s).astype(int)
            frame = pd.DataFrame({"bin": bins, "total_ms": g["total_ms"].to_numpy(float)})
            per = frame.groupby("bin")["total_ms"]
            x = (per.size().index.to_numpy() + 0.5) * bin_s
            ax_rate.plot(x, per.size().to_numpy() / bin_s, "-o", ms=3, drawstyle="steps-mid",
                         color=f"C{i}", label=f"{proto} (capture)")
            ax_lat.plot(x, per.median().to_numpy(), "-o", ms=3, color=f"C{i}",
                        label=f"{proto} p50 (capture)")
            ax_lat.plot(x, per.quantile(0.99).to_numpy(), ":", color=f"C{i}",
                        label=f"{proto} p99 (capture)")
        history = self.runs[0].stats_history
        if history is not None and len(self.runs) == 1:
            _locust_overlay(ax_rate, ax_lat, history, t0)
        ax_rate.set_ylabel(f"responses per second\n({bin_s:g} s bins)")
        ax_lat.set_ylabel("latency (ms)")
        ax_lat.set_xlabel(f"time since the first request (s); t0 = {_clock(t0)} UTC")
        ax_rate.set_title("Throughput and latency over time")
        ax_rate.set_ylim(bottom=0)
        ax_lat.set_ylim(bottom=0)
        for ax in (ax_rate, ax_lat):
            _legend_outside(ax)
        return fig

    def bytes_vs_batch(self) -> Figure:
        """HTTP body bytes per request (request and response; median, min-max bars) against the
        batch size (images per request), per protocol and encoding."""
        df = self.table()
        if "batch_size" not in df or df["batch_size"].isna().all():
            raise InferwireError("no batch size known: plot a run folder (its manifest holds "
                                 "the batch size) or give a DataFrame with a batch_size column")
        df = df[df["batch_size"].notna()]
        sizes = sorted(int(b) for b in df["batch_size"].unique())
        if len(sizes) < 2:
            return too_little("Bytes on the wire per request against batch size",
                              f"one batch size ({sizes[0]}) in this run: bytes against batch "
                              "size needs runs of several (a sweep: inferwire sweep)")
        fig = new_figure(10, 5)
        ax = fig.add_subplot()
        keys = [k for k in ("protocol", "encoding") if k in df]
        for i, (key, g) in enumerate(df.groupby(keys, dropna=False, sort=True)):
            for column, marker, fill in (("request_bytes", "o", f"C{i}"),
                                         ("response_bytes", "s", "none")):
                stats = _num(g, column).groupby(g["batch_size"].astype(int)).agg(
                    ["median", "min", "max"]).dropna()
                if stats.empty:
                    continue
                x = stats.index.to_numpy()
                err = [stats["median"] - stats["min"], stats["max"] - stats["median"]]
                ax.errorbar(x, stats["median"], yerr=err, marker=marker, mfc=fill,
                            color=f"C{i}", capsize=3, ls="-" if fill != "none" else "--",
                            label=f"{_group_label(keys, key)}: {column.split('_')[0]}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.set_xlabel("batch size (images per request, log2 scale)")
        ax.set_ylabel("HTTP body bytes per request (log scale)")
        ax.set_title("Bytes on the wire per request against batch size")
        _legend_outside(ax)
        return fig

    def cpu(self) -> Figure:
        """CPU use by role over time (resources.csv: load generator, server, capture, rest of
        host; % of one core), with the span of each workload shaded.  The host-wide row is
        drawn only for runs sampled before the roles were split (it is in % of all cores)."""
        run = self.runs[0]
        res = run.resources
        if res is None or res.empty:
            raise InferwireError(f"{run.path}: no resources.csv (CPU samples) in this run")
        title = "CPU over time by role"
        if res["time"].nunique() < FEWEST:
            return too_little(title, f"{res['time'].nunique()} samples in resources.csv: a "
                                     f"time line needs at least {FEWEST}")
        t0 = float(res["time"].min())
        fig = new_figure(11, 4.8)
        ax = fig.add_subplot()
        split = "rest of host" in set(res["role"])
        for i, (role, g) in enumerate(res.groupby("role", sort=False)):
            if role == "system" and split:
                continue
            unit = "% of all cores" if role == "system" else "% of one core"
            ax.plot(g["time"] - t0, pd.to_numeric(g["cpu_percent"], errors="coerce"),
                    label=f"{role} ({unit})", lw=1.2, color=f"C{i}",
                    ls=":" if role in ("system", "rest of host") else "-")
        for i, (name, load) in enumerate((run.manifest.get("loads") or {}).items()):
            a, b = load.get("started_ns"), load.get("finished_ns")
            if a and b:
                ax.axvspan(a / 1e9 - t0, b / 1e9 - t0, color=f"C{i + 5}", alpha=0.12,
                           label=f"{name} load")
        ax.set_xlabel(f"time since the first sample (s); t0 = {_clock(t0)} UTC")
        ax.set_ylabel("CPU (%)")
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        _legend_outside(ax)
        return fig

    def locust(self) -> Figure:
        """locust's stats history: users, requests and failures per second, and the sliding-
        window p50/p95/p99 response times (ms), over time."""
        history = self.runs[0].stats_history
        if history is None or history.empty:
            raise InferwireError(f"{self.runs[0].path}: no locust stats history in this run")
        rows = aggregated(history)
        busy = int((pd.to_numeric(rows["requests_per_s"], errors="coerce") > 0).sum())
        if busy < FEWEST:
            return too_little("locust stats history",
                              f"{busy} of its {len(rows)} Aggregated rows show any requests per "
                              "second (locust writes one row a second and averages its rate "
                              f"over several): a run of a few seconds has too few (at least "
                              f"{FEWEST})")
        return locust_figure(history)

    def available(self) -> dict[str, Figure | str]:
        """Every plot that applies, by name; a plot that cannot be drawn, or has too little
        data to be worth drawing, maps to the reason."""
        out: dict[str, Figure | str] = {}
        for name in ("phases", "cdf", "waterfall", "timeline", "bytes_vs_batch", "cpu",
                     "locust"):
            try:
                fig = getattr(self, name)()
            except InferwireError as exc:
                out[name] = str(exc)
                continue
            reason = getattr(fig, "too_little", None)
            out[name] = f"too little data: {reason}" if reason else fig
        return out


# -- helpers -------------------------------------------------------------------------------------
def phase_parts(t: pd.DataFrame) -> pd.DataFrame:
    """``t`` (:func:`entry_timings` rows) plus the :data:`SEGMENTS` columns (ms): the client's
    own time, connection set-up, transfer, and the wait split by the server log into network
    and stack, server outside the model and model (``wait_unsplit_ms`` where no log says)."""
    out = t.copy()
    h2 = _num(out, "h2_ms").fillna(0.0)
    out["setup_ms"] = _num(out, "tcp_ms").fillna(0.0) + _num(out, "ssl_ms").fillna(0.0) + h2
    before = (_num(out, "blocked_ms").fillna(0.0) - h2).clip(lower=0.0)
    out["client_part_ms"] = before + _num(out, "client_after_ms").fillna(0.0).clip(lower=0.0)
    out["transfer_ms"] = _num(out, "send_ms").fillna(0.0) + _num(out, "receive_ms").fillna(0.0)
    wait = _num(out, "wait_ms").fillna(0.0).clip(lower=0.0)
    server = np.minimum(_num(out, "server_ms"), wait)            # NaN: not in the server log
    model = np.minimum(_num(out, "model_ms").fillna(0.0), server)
    logged = server.notna()
    out["model_ms"] = model.where(logged, 0.0)
    out["server_rest_ms"] = (server - model).where(logged, 0.0)
    out["network_ms"] = (wait - server).where(logged, 0.0)
    out["wait_unsplit_ms"] = wait.where(~logged, 0.0)
    return out


def too_little(title: str, reason: str) -> Figure:
    """A small figure that says why there is nothing worth drawing (instead of an empty
    frame); its ``too_little`` attribute holds the reason."""
    fig = new_figure(10, 1.6)
    fig.suptitle(title)
    fig.text(0.5, 0.4, f"Too little data to draw: {reason}.", ha="center", va="center",
             fontsize=10, color="0.35", wrap=True)
    fig.too_little = reason
    return fig


def _legend_outside(ax) -> None:
    """The axes' legend to the right of them, where it cannot cover data."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                  frameon=False)


def _cdf_axis(ax, column: str, values: np.ndarray, log: bool) -> str:
    """Set the CDF's x range; returns its label (the tail beyond p99.9 said when clipped)."""
    if log:
        positive = values[values > 0]
        if len(positive):
            ax.set_xscale("log")
        return f"{column} (ms), log scale"
    edge = float(np.percentile(values, 99.9))
    low = min(float(values.min()), 0.0)
    beyond = values[values > edge]
    ax.set_xlim(low, edge * 1.02 if edge > 0 else 1.0)
    if not len(beyond):
        return f"{column} (ms)"
    return (f"{column} (ms), axis cut at p99.9 = {edge:.2f} ms: the tail beyond it, "
            f"{len(beyond)} requests up to {float(beyond.max()):.2f} ms, is not shown")


def _phase_of(t: pd.DataFrame) -> pd.Series:
    """Each row's ``client_phase`` as plain strings ("measure" where no client log says)."""
    if "client_phase" not in t:
        return pd.Series("measure", index=t.index)
    return t["client_phase"].astype("string").fillna("measure").astype(str)

def auto_bin_s(span_s: float) -> float:
    """1 s, unless ``span_s`` holds fewer than 5 of them: then the largest of 0.5, 0.2, 0.1,
    0.05, ... s that gives at least 10 bins."""
    if span_s >= 5.0:
        return 1.0
    for step in (0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001):
        if span_s / step >= 10:
            return step
    return 0.001


def _num(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df:
        return pd.Series(np.nan, index=df.index, dtype="float64")
    return pd.to_numeric(df[name], errors="coerce").astype("float64")


def _group_label(keys, key) -> str:
    key = key if isinstance(key, tuple) else (key,)
    parts = []
    for k, v in zip(keys, key):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            continue
        parts.append(f"batch {v}" if k == "batch_size" else str(v))
    return " · ".join(parts) or "(all)"


def _legend_labels(ax) -> set:
    return set(ax.get_legend_handles_labels()[1])


def _clock(t_s: float) -> str:
    return pd.Timestamp(t_s, unit="s").strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _row_label(row) -> str:
    stream = "" if pd.isna(row.get("stream")) else f" s{int(row['stream'])}"
    phase = " (warm-up)" if str(row.get("client_phase")) == "warmup" else ""
    return f"{row['protocol']} c{row['connection']}{stream}{phase}"


def _bar(ax, y, left_ms, width_ms, colour, height=0.6, zorder=2, alpha=1.0) -> None:
    if np.isnan(left_ms) or np.isnan(width_ms):
        return
    # a zero-length phase still shows as a line of its colour (loopback receives take 0 ms)
    ax.barh(y, width_ms, left=left_ms, height=height, color=colour, edgecolor=colour,
            linewidth=1.2, zorder=zorder, alpha=alpha)


def _waterfall_row(ax, y, row, t0) -> None:
    ms = lambda t: (t - t0) * 1e3   # noqa: E731 - s since epoch -> ms since the first bar
    alpha = 0.4 if str(row.get("client_phase")) == "warmup" else 1.0   # warm-up: faded
    if not pd.isna(row.get("client_started")) and not pd.isna(row.get("client_finished")):
        _bar(ax, y, ms(row["client_started"]),
             (row["client_finished"] - row["client_started"]) * 1e3, COLOR["client"], 0.85, 1)
    if not np.isnan(row["setup_start"]):
        left = ms(row["setup_start"])
        for col in ("tcp_ms", "ssl_ms", "h2_ms"):
            if not np.isnan(row[col]):
                _bar(ax, y, left, row[col], COLOR[col], 0.6 if col != "h2_ms" else 0.3, 3,
                     alpha)
                left += row[col]
    _bar(ax, y, ms(row["request_start"]), row["send_ms"], COLOR["send_ms"], alpha=alpha)
    _bar(ax, y, ms(row["request_end"]), row["wait_ms"], COLOR["wait_ms"], alpha=alpha)
    _bar(ax, y, ms(row["response_start"]), row["receive_ms"], COLOR["receive_ms"], alpha=alpha)


def _waterfall_legend(ax) -> list:
    items = (("client", "client's whole span (client log)"), ("tcp_ms", "TCP handshake"),
             ("ssl_ms", "TLS handshake"), ("h2_ms", "HTTP/2 set-up"),
             ("send_ms", "sending"), ("wait_ms", "waiting"), ("receive_ms", "receiving"))
    return [Patch(color=COLOR[k], label=label) for k, label in items]


def _sources(agg: pd.DataFrame):
    """(suffix, rows) per stats-history file: a run may hold one per workload."""
    if "source" not in agg or agg["source"].nunique() <= 1:
        return [("", agg)]
    return [(f" ({name})", g) for name, g in agg.groupby("source", sort=True)]


def _locust_overlay(ax_rate, ax_lat, history: pd.DataFrame, t0: float) -> None:
    for suffix, agg in _sources(aggregated(history)):
        x = agg["time"] - t0
        ax_rate.plot(x, agg["requests_per_s"], "k--", lw=1, label=f"locust requests/s{suffix}")
        for col, style in (("p50_ms", "k--"), ("p95_ms", "k:")):
            if col in agg:
                ax_lat.plot(x, agg[col], style, lw=1,
                            label=f"locust {col[:-3]} (window){suffix}")


def locust_figure(history: pd.DataFrame) -> Figure:
    """The locust stats-history figure of :meth:`AnalysisPlots.locust` for any history table
    (one set of lines per stats-history file when it holds several)."""
    everything = aggregated(history)
    if everything.empty:
        raise InferwireError("the locust stats history has no Aggregated rows")
    t0 = everything["time"].min()
    fig = new_figure(11, 7.5)
    ax_users, ax_rate, ax_lat = fig.subplots(3, 1, sharex=True)
    for i, (suffix, agg) in enumerate(_sources(everything)):
        t = agg["time"] - t0
        ls = ("-", "--", ":", "-.")[i % 4]
        ax_users.step(t, agg["users"], where="post", color="C0", ls=ls, label=f"users{suffix}")
        ax_rate.plot(t, agg["requests_per_s"], color="C2", ls=ls, label=f"requests/s{suffix}")
        ax_rate.plot(t, agg["failures_per_s"], color="C3", ls=ls, label=f"failures/s{suffix}")
        for col, colour in (("p50_ms", "C0"), ("p95_ms", "C1"), ("p99_ms", "C3")):
            if col in agg:
                ax_lat.plot(t, agg[col], color=colour, ls=ls,
                            label=f"{col[:-3]} (sliding window){suffix}")
    ax_users.set_ylabel("users")
    ax_rate.set_ylabel("per second")
    ax_lat.set_ylabel("response time (ms)")
    ax_lat.set_xlabel(f"time since locust's first row (s); t0 = {_clock(t0)} UTC")
    ax_users.set_title("locust stats history")
    for ax in (ax_users, ax_rate, ax_lat):
        ax.set_ylim(bottom=0)
        _legend_outside(ax)
    return fig
