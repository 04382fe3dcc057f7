"""What a pandas user meets (issue 17 item 7): instants as exact ``datetime64[ns, UTC]`` columns,
the public API in ``dir(inferwire)``, one-line reprs, figures that show without a display."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

import inferwire
from craft import T0_NS, Conversation, http_request, http_response, write_pcap
from inferwire.columns import CONNECTION_COLUMNS, REQUEST_COLUMNS, UTC_DTYPE

ROOT = Path(__file__).resolve().parents[2]


def _capture(tmp_path) -> str:
    # odd nanoseconds: a float second at this epoch cannot hold them (~0.24 µs apart)
    conv = Conversation()
    conv.handshake(1, 100_003, 150_007)
    conv.client(1_000_011, http_request(request_id="r1"))
    conv.server(3_500_013, http_response())
    return write_pcap(tmp_path / "c.pcap", conv.packets)


def test_instants_are_exact_utc_timestamps_beside_the_float_seconds(tmp_path):
    a = inferwire.analyze(_capture(tmp_path))
    r, c = a.requests.iloc[0], a.connections.iloc[0]
    for col in [x for x in REQUEST_COLUMNS + CONNECTION_COLUMNS if x.dtype == UTC_DTYPE]:
        table = a.requests if col in REQUEST_COLUMNS else a.connections
        assert str(table[col.name].dtype) == "datetime64[ns, UTC]", col.name
    assert r["request_start_utc"].value == T0_NS + 1_000_011          # exact to the ns
    assert r["response_end_utc"].value == T0_NS + 3_500_013
    assert c["syn_utc"].value == T0_NS + 1 and c["first_utc"].value == T0_NS + 1
    assert r["request_start"] == (T0_NS + 1_000_011) / 1e9              # float seconds kept
    # ... which could not give these instants back: why the Timestamp columns exist
    assert pd.Timestamp(r["request_start"], unit="s").value != T0_NS + 1_000_011
    # through the files: CSV (ISO 8601 text) and Parquet give the same exact instants back
    a.save(tmp_path / "out")
    (tmp_path / "out" / "requests.parquet").unlink()
    from inferwire.report.run import read_table
    back = read_table(tmp_path / "out", "requests", REQUEST_COLUMNS)
    assert back["request_start_utc"].iloc[0].value == T0_NS + 1_000_011
    assert "2023-11-14T22:13:20.001000011Z" in (tmp_path / "out" / "requests.csv").read_text()


def test_dir_lists_the_public_api_and_reprs_are_short(tmp_path):
    names = dir(inferwire)
    for name in ("analyze", "Analysis", "load_run", "load_runs", "Run", "build_report",
                 "join_requests", "InferwireError"):
        assert name in names and getattr(inferwire, name) is not None
    a = inferwire.analyze(_capture(tmp_path))
    assert repr(a) == ("<Analysis 'c.pcap': 1 requests (http/1.1 1) on 1 connections, "
                       "0 warnings>")
    run = inferwire.load_run(ROOT / "captures" / "run-b1")
    assert repr(run) == ("<Run 'run-b1' (ok): 86 requests (grpc 43, http/1.1 43) on 3 "
                         "connections, 0 warnings>")
    assert len(repr(run)) < 120


def test_fig_show_outside_jupyter_saves_a_png_and_says_where(tmp_path):
    """A script on a headless host (no DISPLAY, no Jupyter): show() must not raise."""
    script = ("import inferwire\nimport inferwire.report\n"
              f"a = inferwire.analyze({str(ROOT / 'captures' / 'run-b1' / 'capture.pcapng')!r})\n"
              "inferwire.report.plot(a).cdf().show()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    env["TMPDIR"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.split("figure saved to ", 1)[1].split(" ", 1)[0])
    assert path.parent == tmp_path and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_timestamps_round_trip_exact_and_empty_for_unknown(tmp_path):
    from inferwire.report.run import cast_columns
    from inferwire.tablefiles import write_csv
    from inferwire.columns import Column
    stamps = pd.Series([pd.Timestamp(T0_NS + 7, unit="ns", tz="UTC"), pd.NaT],
                       dtype=UTC_DTYPE)
    write_csv(pd.DataFrame({"x_utc": stamps, "n": [1, 2]}), tmp_path / "t.csv")
    text = (tmp_path / "t.csv").read_text().splitlines()
    assert text == ["x_utc,n", "2023-11-14T22:13:20.000000007Z,1", ",2"]
    back = cast_columns(pd.read_csv(tmp_path / "t.csv"), (Column("x_utc", UTC_DTYPE, "", ""),))
    assert back["x_utc"].iloc[0].value == T0_NS + 7 and pd.isna(back["x_utc"].iloc[1])
