"""A run's capture-liveness probe is left out of the tables also when the capture travels without
its run folder: the capture's own section comment names the probe port."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

from inferwire import analyze
from inferwire.analysis import probe_ports
from inferwire.packets import read_packets

RUN = Path(__file__).resolve().parents[2] / "captures" / "run-b1"


def test_probe_ports_come_from_inferwire_comments_only():
    assert probe_ports(["inferwire probe port 33317", "something else",
                        "inferwire probe port 99999", " inferwire probe port 80 "]) == [33317, 80]


def test_a_copied_capture_has_no_probe_connections(tmp_path):
    probe = json.loads((RUN / "manifest.json").read_text())["capture"]["probe_port"]
    alone = tmp_path / "copied.pcapng"
    shutil.copyfile(RUN / "capture.pcapng", alone)      # no manifest.json next to it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with read_packets(alone) as table:
            assert f"inferwire probe port {probe}" in table.stats.comments
            on_probe = int(((table.sport == probe) | (table.dport == probe)).sum())
        assert on_probe > 0                              # the probe is in the file ...
        a = analyze(alone, workers=1)
        with_manifest = analyze(RUN / "capture.pcapng", workers=1)
    ports = {int(s.rsplit(":", 1)[1]) for s in a.connections["server"]}
    assert probe not in ports                            # ... and not in the tables
    assert len(a.connections) == len(with_manifest.connections)
    assert len(a.requests) == len(with_manifest.requests) > 0
