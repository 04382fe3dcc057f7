"""Plots (report.plots): what each figure draws is checked against the tables it came from."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import inferwire
from inferwire.errors import InferwireError
from inferwire.report import AnalysisPlots, load_run, load_runs, plot
from inferwire.report.plots import auto_bin_s
from report.data import CAPTURES


def bars(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_phases_are_amortised_means_that_add_up(crafted_pcap):
    a = inferwire.analyze(crafted_pcap)
    fig = plot(a).phases()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    widths = sorted(round(p.get_width(), 3) for p in bars(ax))
    # r1: 0.85 before, 0.15 TCP, 0 send, 3 wait, 0 receive; r2: 0.5 send, 2.5 wait, 0.2 receive
    # -> client 0.425, set-up 0.075, transfer 0.35, waiting (no server log to split it) 2.75
    assert widths == sorted([0.425, 0.075, 0.35, 2.75])
    assert sum(widths) == pytest.approx(a.requests["total_ms"].mean() + (0.85 + 0.15) / 2,
                                        abs=1e-3)
    assert any(t.get_text().strip() == "3.60 ms" for t in ax.texts)
    assert "(ms)" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["http/1.1\n(2 requests)"]


def test_phases_split_wait_with_the_server_log(sample_run):
    """Model, server outside the model, network and stack: each the mean of its share of the
    wait (the server log's times, clipped to the wait they lie in)."""
    run = load_run(sample_run)
    fig = run.plot.phases()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"model (inside the model call, server log)", "server outside the model (server log)",
            "network and stack (waiting, outside the server)"} <= set(labels)
    assert not any(label.startswith("waiting: server and network") for label in labels)
    ax = fig.axes[0]
    assert len(ax.get_yticks()) == 2           # grpc, http/1.1
    t = run.table()
    for y, (_, g) in enumerate(t.groupby("protocol", sort=True)):
        wait = g["wait_ms"].clip(lower=0)
        server = np.minimum(g["server_ms"], wait)
        model = np.minimum(g["model_ms"], server)
        by_colour = {p.get_facecolor()[:3]: p.get_width() for p in bars(ax)
                     if round(p.get_y() + p.get_height() / 2) == y}
        from matplotlib.colors import to_rgb
        from inferwire.report.plots import SEGMENTS
        colour = {col: to_rgb(c) for col, _, c in SEGMENTS}
        assert by_colour[colour["model_ms"]] == pytest.approx(model.mean(), abs=1e-9)
        assert by_colour[colour["server_rest_ms"]] == pytest.approx((server - model).mean())
        assert by_colour[colour["network_ms"]] == pytest.approx((wait - server).mean())
        share = round(100 * model.mean() / sum(by_colour.values()))
        assert any(f"model {share} %" in txt.get_text() for txt in ax.texts)


def test_cdf_marks_the_percentiles(sample_run):
    run = load_run(sample_run)
    ax = run.plot.cdf().axes[0]
    t = run.table()
    marks = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(marks) == 2
    expected = {tuple(np.round(np.percentile(g["total_ms"].dropna(), [50, 90, 99]), 6))
                for _, g in t.groupby("protocol")}
    assert {tuple(np.round(m.get_xdata(), 6)) for m in marks} == expected
    assert all(list(m.get_ydata()) == [0.5, 0.9, 0.99] for m in marks)
    assert ax.get_xlabel().startswith("total_ms (ms)") and ax.get_ylabel()


def test_waterfall_shows_set_up_and_phases(crafted_pcap):
    a = inferwire.analyze(crafted_pcap)
    ax = plot(a).waterfall().axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["http/1.1 c0 s1", "http/1.1 c0 s2"]
    spans = {(round(p.get_x(), 3), round(p.get_width(), 3), round(p.get_y() + p.get_height() / 2))
             for p in bars(ax)}
    # row 0: TCP handshake from the SYN (x=0), request at 1 ms, wait 3 ms; row 1 from 6 ms
    assert {(0.0, 0.15, 0), (1.0, 0.0, 0), (1.0, 3.0, 0), (4.0, 0.0, 0)} <= spans
    assert {(6.0, 0.5, 1), (6.5, 2.5, 1), (9.0, 0.2, 1)} <= spans
    assert "(ms)" in ax.get_xlabel()


def test_waterfall_window_and_warmup_labels(sample_run):
    run = load_run(sample_run)
    warm = int((run.table(warmup=True)["client_phase"] == "warmup").sum())
    ax = run.plot.waterfall(n=5).axes[0]              # the measured window only
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 5 and not any(lb.endswith("(warm-up)") for lb in labels)
    assert ax.get_title().endswith(f"({warm} warm-up requests left out)")
    ax = run.plot.waterfall(n=5, warmup=True).axes[0]   # warm-up shown, labelled and faded
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 5 and labels[0].endswith("(warm-up)")
    assert any(p.get_alpha() == 0.4 for p in bars(ax))
    with pytest.raises(InferwireError, match="no complete requests from position 500"):
        run.plot.waterfall(start=500)


def test_timeline_counts_responses_per_bin(sample_run):
    run = load_run(sample_run)
    fig = run.plot.timeline(bin_s=0.05)
    ax_rate, ax_lat = fig.axes
    t = run.table()
    counts = {line.get_label(): round(sum(line.get_ydata()) * 0.05) for line in ax_rate.lines}
    assert counts == {"grpc (capture)": (t["protocol"] == "grpc").sum(),
                      "http/1.1 (capture)": (t["protocol"] == "http/1.1").sum()}
    assert "per second" in ax_rate.get_ylabel() and "(ms)" in ax_lat.get_ylabel()
    assert "(s)" in ax_lat.get_xlabel()


def test_auto_bin():
    assert auto_bin_s(60) == 1.0 and auto_bin_s(5) == 1.0
    assert auto_bin_s(4) == 0.2 and auto_bin_s(0.6) == 0.05 and auto_bin_s(0) == 0.001


def test_bytes_vs_batch_medians():
    runs = [r for r in load_runs(CAPTURES) if r.name in ("run-b1", "run-b4")]
    plots = AnalysisPlots(runs)
    ax = plots.bytes_vs_batch().axes[0]
    t = plots.table()
    grpc = t[t["protocol"] == "grpc"]
    want = grpc.groupby("batch_size")["request_bytes"].median()
    line = next(c.lines[0] for c in ax.containers
                if c.get_label() == "grpc · grpc_tensor_content: request")
    assert list(line.get_xdata()) == [1, 4]
    assert list(line.get_ydata()) == list(want.astype(float))
    assert "batch size" in ax.get_xlabel() and "bytes" in ax.get_ylabel()


def test_cpu_and_locust(sample_run, tmp_path):
    run = load_run(sample_run)
    ax = run.plot.cpu().axes[0]
    assert {line.get_label().split(" ")[0] for line in ax.lines} == {"client", "server", "system"}
    assert ax.get_ylabel() == "CPU (%)"
    with pytest.raises(InferwireError, match="no locust stats history"):
        run.plot.locust()
    copy = tmp_path / "run"
    shutil.copytree(sample_run, copy)
    shutil.copy(CAPTURES / "locust_stats_history.csv", copy / "locust_stats_history.csv")
    fig = load_run(copy).plot.locust()
    assert [ax.get_ylabel() for ax in fig.axes] == ["users", "per second", "response time (ms)"]
    assert max(fig.axes[0].lines[0].get_ydata()) == 8
    # one history per workload: one set of lines each, and the timeline overlays both
    shutil.copy(CAPTURES / "locust_stats_history.csv", copy / "locust_grpc_stats_history.csv")
    two = load_run(copy)
    labels = [line.get_label() for line in two.plot.locust().axes[1].lines]
    assert "requests/s (locust_grpc_stats_history.csv)" in labels and len(labels) == 4
    rate_labels = [line.get_label() for line in two.plot.timeline().axes[0].lines]
    assert sum(label.startswith("locust requests/s") for label in rate_labels) == 2


def test_available_says_why_a_plot_is_missing(crafted_pcap):
    got = plot(inferwire.analyze(crafted_pcap)).available()
    assert isinstance(got["phases"], Figure) and isinstance(got["waterfall"], Figure)
    assert "no batch size known" in got["bytes_vs_batch"]
    assert "no resources.csv" in got["cpu"]
    assert "no locust stats history" in got["locust"]


def test_nothing_to_plot_is_a_clear_error(crafted_pcap):
    a = inferwire.analyze(crafted_pcap)
    empty = plot(a.requests.iloc[:0])
    with pytest.raises(InferwireError, match="no complete requests"):
        empty.phases()
    with pytest.raises(InferwireError, match="no values of total_ms"):
        empty.cdf()
    with pytest.raises(InferwireError, match="cannot group by 'nope'"):
        plot(a).phases(by="nope")
    with pytest.raises(InferwireError, match="no runs"):
        AnalysisPlots([])
    with pytest.raises(InferwireError, match="takes Runs, not DataFrame"):
        AnalysisPlots([a.requests])


def test_analysis_plot_says_where_plots_moved(crafted_pcap):
    a = inferwire.analyze(crafted_pcap)
    with pytest.raises(AttributeError, match=r"inferwire\.report\.plot\(analysis\)"):
        a.plot
    assert not hasattr(a, "plot")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        a.nope


def test_cdf_axis_ends_at_p999_and_says_the_tail(sample_run):
    run = load_run(sample_run)
    t = run.table()
    values = t["total_ms"].dropna().to_numpy()
    edge = np.percentile(values, 99.9)
    ax = run.plot.cdf().axes[0]
    assert ax.get_xlim()[1] == pytest.approx(edge * 1.02)
    beyond = values[values > edge]
    assert f"{len(beyond)} requests up to {beyond.max():.2f} ms, is not shown" in ax.get_xlabel()
    log = run.plot.cdf(log=True).axes[0]
    assert log.get_xscale() == "log" and "log scale" in log.get_xlabel()


def test_legends_never_cover_data(sample_run, tmp_path):
    """Every legend of every figure lies outside every axes of its figure."""
    copy = tmp_path / "run"
    shutil.copytree(sample_run, copy)
    shutil.copy(CAPTURES / "locust_stats_history.csv", copy / "locust_stats_history.csv")
    figures = [f for f in load_run(copy).plot.available().values() if isinstance(f, Figure)]
    figures.append(AnalysisPlots([r for r in load_runs(CAPTURES)
                                  if r.name in ("run-b1", "run-b4")]).bytes_vs_batch())
    assert len(figures) == 7
    for fig in figures:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        assert legends, fig.axes[0].get_title()
        for legend in legends:
            box = legend.get_window_extent(renderer)
            for ax in fig.axes:
                assert not box.overlaps(ax.get_window_extent(renderer)), ax.get_title()


def test_too_little_data_is_said_not_drawn_empty(crafted_pcap, sample_run, tmp_path):
    a = inferwire.analyze(crafted_pcap)             # 2 requests
    fig = plot(a).cdf()
    assert "only 2 values of total_ms" in fig.too_little and not fig.axes
    assert any("Too little data to draw" in t.get_text() for t in fig.texts)
    assert plot(a).available()["cdf"].startswith("too little data: only 2 values")
    assert "bin(s)" in plot(a).timeline().too_little
    assert "one batch size (1)" in load_run(sample_run).plot.bytes_vs_batch().too_little
    copy = tmp_path / "run"
    shutil.copytree(sample_run, copy)
    history = (CAPTURES / "locust_stats_history.csv").read_text().splitlines()
    header = history[0]
    rows = [line for line in history[1:] if ",Aggregated," in line][:2]
    (copy / "locust_stats_history.csv").write_text("\n".join([header, *rows]) + "\n")
    assert "of its 2 Aggregated rows show any requests" in load_run(copy).plot.locust().too_little
