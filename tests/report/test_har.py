"""HAR 1.2 export: the document's structure (as the spec requires) and the phase mapping."""
from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest

import inferwire
from report.data import ACK, REQ1, RESP1, SYN
from craft import T0_NS
from inferwire.report import load_run, to_har, write_har

# HAR 1.2 required fields (http://www.softwareishard.com/blog/har-12-spec/)
ENTRY_FIELDS = {"startedDateTime": str, "time": (int, float), "request": dict,
                "response": dict, "cache": dict, "timings": dict}
REQUEST_FIELDS = {"method": str, "url": str, "httpVersion": str, "cookies": list,
                  "headers": list, "queryString": list, "headersSize": int, "bodySize": int}
RESPONSE_FIELDS = {"status": int, "statusText": str, "httpVersion": str, "cookies": list,
                   "headers": list, "content": dict, "redirectURL": str, "headersSize": int,
                   "bodySize": int}


def check_har(har: dict) -> None:
    """Assert the structure HAR 1.2 requires, and that each entry's time is its timings' sum."""
    log = har["log"]
    assert log["version"] == "1.2"
    assert isinstance(log["creator"]["name"], str) and isinstance(log["creator"]["version"], str)
    for e in log["entries"]:
        for fields, obj in ((ENTRY_FIELDS, e), (REQUEST_FIELDS, e["request"]),
                            (RESPONSE_FIELDS, e["response"])):
            for name, kind in fields.items():
                assert isinstance(obj[name], kind), (name, obj.get(name))
        assert isinstance(e["response"]["content"]["size"], int)
        assert isinstance(e["response"]["content"]["mimeType"], str)
        datetime.fromisoformat(e["startedDateTime"])
        t = e["timings"]
        for k in ("send", "wait", "receive"):
            assert t[k] >= 0
        for k in ("blocked", "dns", "connect", "ssl"):
            assert t[k] == -1 or t[k] >= 0
        if t["ssl"] >= 0:
            assert t["connect"] >= t["ssl"]          # HAR counts ssl inside connect
        parts = sum(v for k, v in t.items() if k != "ssl" and v >= 0)
        assert e["time"] == pytest.approx(parts, abs=0.002)


def test_crafted_mapping(crafted_pcap):
    a = inferwire.analyze(crafted_pcap)
    har = to_har(a.requests, a.connections)
    check_har(har)
    first, second = har["log"]["entries"]
    assert first["timings"] == {"blocked": pytest.approx((REQ1 - ACK) / 1e6), "dns": -1,
                                "connect": pytest.approx((ACK - SYN) / 1e6), "send": 0.0,
                                "wait": pytest.approx((RESP1 - REQ1) / 1e6), "receive": 0.0,
                                "ssl": -1}
    assert first["startedDateTime"].startswith("2023-11-14T22:13:20.000000")
    assert datetime.fromisoformat(first["startedDateTime"]).timestamp() == \
        pytest.approx(T0_NS / 1e9 + SYN / 1e9, abs=1e-6)
    assert first["request"]["url"] == "http://10.0.0.2:8501/v1/models/mnist:predict"
    assert first["request"]["method"] == "POST" and first["request"]["bodySize"] == 8
    assert first["request"]["headers"] == [{"name": "x-request-id", "value": "r1"}]
    assert first["response"]["status"] == 200
    assert first["serverIPAddress"] == "10.0.0.2" and first["_requestId"] == "r1"
    assert second["timings"]["blocked"] == -1 and second["timings"]["connect"] == -1
    assert second["time"] == pytest.approx(3.2)


def test_incomplete_requests_are_counted_not_invented(crafted_pcap):
    a = inferwire.analyze(crafted_pcap)
    req = a.requests.copy()
    req.loc[1, "response_end"] = np.nan
    har = to_har(req, a.connections)
    assert len(har["log"]["entries"]) == 1
    assert "1 requests left out" in har["log"]["comment"]


def test_sample_run_with_client_log(sample_run, tmp_path):
    run = load_run(sample_run)
    path = tmp_path / "run.har"
    n = write_har(run, path)
    har = json.loads(path.read_text())      # strict JSON: no NaN
    check_har(har)
    entries = har["log"]["entries"]
    assert n == len(entries) == int(run.requests["response_end"].notna().sum())
    # every entry of a run with a client log knows what happened before its first byte
    assert all(e["timings"]["blocked"] >= 0 for e in entries)
    grpc = [e for e in entries if e["_protocol"] == "grpc"]
    assert grpc and all(e["request"]["httpVersion"] == "HTTP/2" for e in grpc)
    assert all(e["response"]["content"]["mimeType"] == "application/grpc" for e in grpc)
    starts = [e["startedDateTime"] for e in entries]
    assert starts == sorted(starts)


def test_tls_sample_has_ssl_inside_connect(tls_sample, tmp_path):
    a = inferwire.analyze(tls_sample["pcap"], tls_keylog=tls_sample["keylog"],
                          ignore_ports=(tls_sample["probe_port"],))
    har = to_har(a.requests, a.connections)
    check_har(har)
    for e, (_, row) in zip(har["log"]["entries"], a.requests.sort_values("request_start")
                           .iterrows()):
        assert e["request"]["url"].startswith("https://")
        assert e["timings"]["ssl"] == pytest.approx(row["tls_handshake_ms"], abs=0.001)
        assert e["timings"]["connect"] == pytest.approx(
            row["tcp_handshake_ms"] + row["tls_handshake_ms"], abs=0.002)
