"""The self-contained HTML report (report.html): content, escaping, and a render in headless
Chromium with no console errors and every image decoded."""
from __future__ import annotations

import base64
import re
import shutil

import pytest

import inferwire
from inferwire.report import load_run, render_html, write_html
from inferwire.report.html import phase_table
from report.data import require_tool

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_run_report_holds_facts_tables_and_images(sample_run):
    run = load_run(sample_run)
    page = render_html(run)
    pngs = embedded_pngs(page)
    # all but locust (none) and bytes against batch size (one batch size: too little data)
    assert len(pngs) == 5 and all(p.startswith(PNG_MAGIC) for p in pngs)
    assert "locust: " in page and "no locust stats history" in page        # says why not
    assert "bytes_vs_batch: too little data: one batch size (1)" in page
    assert "The load tool against the wire" in page and "not compared" not in page
    cap = run.manifest["capture"]
    assert f"{cap['packets']} packets, dropped: <span class=\"ok\">0</span>" in page
    assert "Where the time went (medians, ms)" in page and "Load, as the client saw it" in page
    assert 'status: <span class="ok">ok</span>' in page
    # no external resources: nothing fetched from anywhere
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page


def test_drops_and_problems_stand_out(sample_run):
    run = load_run(sample_run)
    run.manifest = dict(run.manifest, status="capture_died", problems=["dumpcap died"])
    run.manifest["capture"] = dict(run.manifest["capture"], dropped=12)
    page = render_html(run, figures={})
    assert '<span class="bad">12 DROPPED</span>' in page
    assert '<span class="bad">problem: dumpcap died</span>' in page
    run.manifest["capture"] = dict(run.manifest["capture"], dropped=None)
    assert '<span class="bad">unknown</span>' in render_html(run, figures={})


def test_text_from_the_capture_is_escaped(crafted_pcap):
    a = inferwire.analyze(crafted_pcap)
    a.warnings.append('<script>alert("x")</script>')
    a.connections.loc[0, "warnings"] = "<img src=x onerror=alert(1)>"
    page = render_html(a, figures={"phases": "<b>not drawn</b>"})
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;not drawn&lt;/b&gt;" in page


def test_phase_table_matches_the_summary(sample_run):
    run = load_run(sample_run)
    table = phase_table(run).set_index("phase (ms)")
    s = run.summary().set_index("protocol")
    want = " / ".join(f"{s.loc['grpc', f'wait_ms_p{q}']:.3f}" for q in (50, 90, 99))
    assert table.loc["wait_ms", "grpc p50 / p90 / p99"] == want
    assert "tls_handshake_ms" not in table.index            # no TLS in this run


@pytest.mark.timeout(120)
def test_renders_in_chromium_without_console_errors(sample_run, tmp_path):
    chromium = require_tool("chromium")
    from report.browser import render
    run = load_run(sample_run)
    page = write_html(run, tmp_path / "report.html")
    got = render(chromium, page, tmp_path / "report.png", tmp_path / "profile")
    assert got.title == "inferwire report: run-b1"
    assert got.console == [] and got.exceptions == [] and got.log_errors == []
    assert len(got.images) == 5
    assert all(done and w >= 400 and h >= 200 for done, w, h in got.images), got.images
    shot = (tmp_path / "report.png").read_bytes()
    assert shot.startswith(PNG_MAGIC) and len(shot) > 50_000
    keep = tmp_path.parent / "report-screenshot.png"    # for a person to look at
    shutil.copy(tmp_path / "report.png", keep)
    print(f"screenshot: {keep}")


@pytest.mark.timeout(120)
def test_the_chromium_check_sees_errors(tmp_path):
    """The harness itself: a page with a console error, an exception and a broken image."""
    chromium = require_tool("chromium")
    from report.browser import render
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><title>bad</title><link rel="icon" href="data:,">'
                   '</head><body><img src="data:image/png;base64,AAAA">'
                   '<script>console.error("boom"); undefinedThing();</script></body></html>')
    got = render(chromium, bad, tmp_path / "bad.png", tmp_path / "profile")
    assert ("error", "boom") in got.console
    assert got.exceptions
    assert got.images == [(True, 0, 0)]
