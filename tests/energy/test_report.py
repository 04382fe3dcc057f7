"""energy.json from meter readings and a run folder's client logs and resources.csv."""
import csv
import json
import time

import pytest
from energy.powercap import laptop_tree, set_energy

from inferwire.energy import EnergySession, NullMeter, RaplMeter, measure
from inferwire.energy.report import energy_report
from inferwire.load import CLIENT_LOG_COLUMNS
from inferwire.experiment.resources import COLUMNS as RESOURCE_COLUMNS

S = 1_000_000_000
T0 = 1_700_000_000 * S


def write_client_log(run_dir, workload, start_ns, n, spacing_ns, warmup=2):
    """``warmup`` warm-up rows, then ``n`` measured rows 1 ms long, in the client-log format."""
    with open(run_dir / f"client_log_{workload}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, CLIENT_LOG_COLUMNS)
        w.writeheader()
        for i in range(warmup + n):
            t = start_ns + (i - warmup) * spacing_ns
            w.writerow({"request_id": f"{workload}-{i}", "worker": 0,
                        "phase": "warmup" if i < warmup else "measure", "scheduled_ns": t,
                        "started_ns": t, "finished_ns": t + 1_000_000, "latency_ms": 1.0,
                        "latency_from_scheduled_ms": 1.0, "ok": "true", "status": "200",
                        "request_bytes": 10, "response_bytes": 10, "serialize_ns": 5,
                        "model_time_ns": "", "error": ""})


def write_resources(run_dir, rows):
    """rows: (time_ns, role, cumulative cpu seconds)."""
    with open(run_dir / "resources.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(RESOURCE_COLUMNS)
        for t, role, cpu in rows:
            w.writerow([t, role, 1, f"{cpu:.3f}", "0.000", "", 1, 1, 1, 1])


@pytest.fixture
def run_dir(tmp_path):
    # 100 rest requests measured from T0+1 s to T0+2 s (last answer 1 ms after the last send)
    write_client_log(tmp_path, "rest", T0 + S, 100, 10_000_000 * 100 // 100)
    rows = []
    for k in range(0, 5):                        # samples every second, T0 .. T0+4 s
        t = T0 + k * S
        rows += [(t, "client", 3.0 * k), (t, "server", 1.0 * k), (t, "system", 5.0 * k)]
    write_resources(tmp_path, rows)
    return tmp_path


def test_without_meter_reports_cpu_seconds_per_request(run_dir):
    report = energy_report(run_dir, NullMeter(), [], None, 0.5)
    assert report["meter"] == "none"
    assert report["reason"].startswith("no energy meter on this host")
    rest = report["workloads"]["rest"]
    assert rest["requests"] == 100                   # warm-up rows not counted
    assert rest["start_ns"] == T0 + S
    assert rest["end_ns"] == T0 + S + 99 * 10_000_000 + 1_000_000
    d = rest["duration_s"]
    assert d == pytest.approx(0.991)
    assert rest["joules"] is None and rest["joules_per_request"] is None
    # the server uses 1 CPU-s per s; the client 3 CPU-s per s including the server (its child)
    assert rest["cpu_seconds"]["server"] == pytest.approx(d)
    assert rest["cpu_seconds"]["client"] == pytest.approx(2 * d)
    assert rest["cpu_seconds"]["host"] == pytest.approx(5 * d)
    assert rest["cpu_seconds_per_request"]["total"] == pytest.approx(3 * d / 100)
    assert report["all"]["requests"] == 100


def test_rapl_joules_per_request_across_a_wrap(run_dir, tmp_path_factory):
    tree = laptop_tree(tmp_path_factory.mktemp("powercap"))
    meter = RaplMeter(tree)
    max_range = meter.max_ranges()["intel-rapl:0 package-0"]
    # package: 10 W, and the counter wraps between the 2nd and 3rd readings
    start = max_range - 15_000_000
    samples = []
    for k in range(5):
        package = (start + k * 10_000_000) % max_range
        samples.append((T0 + k * S, {"intel-rapl:0 package-0": package,
                                     "intel-rapl:0:0 core": 1000 * k,
                                     "intel-rapl:0:1 uncore": 10 * k,
                                     "intel-rapl:1 psys": 99_000_000 * k}))
    report = energy_report(run_dir, meter, samples, None, 1.0)
    assert report["wraps"] == 1
    rest = report["workloads"]["rest"]
    assert rest["joules"] == pytest.approx(10.0 * rest["duration_s"])
    assert rest["watts"] == pytest.approx(10.0)
    assert rest["joules_per_request"] == pytest.approx(rest["joules"] / 100)
    assert rest["zones_joules"]["intel-rapl:1 psys"] == pytest.approx(99 * rest["duration_s"])
    assert report["reason"] is None


def test_window_outside_samples_has_no_joules(run_dir, tmp_path_factory):
    meter = RaplMeter(laptop_tree(tmp_path_factory.mktemp("powercap")))
    samples = [(T0, {"intel-rapl:0 package-0": 0}), (T0 + S + 500_000_000,
                                                     {"intel-rapl:0 package-0": 10})]
    rest = energy_report(run_dir, meter, samples, None, 1.0)["workloads"]["rest"]
    assert rest["joules"] is None and rest["joules_per_request"] is None


def test_no_requests_says_so(tmp_path):
    report = energy_report(tmp_path, NullMeter(), [], None, 0.5)
    assert report["all"] is None and "no measured requests" in report["reason"]


class _FakeRun:
    def __init__(self, run_dir):
        self.run_dir = run_dir


class _CountedRapl(RaplMeter):
    """The real RAPL meter, counting its reads so that a test can wait for the next poll."""
    reads = 0

    def read(self):
        values = super().read()
        self.reads += 1
        return values


def test_live_session_polls_the_tree_and_writes_energy_json(tmp_path, tmp_path_factory):
    """A real EnergySession polling a powercap tree that a 'CPU' thread advances (with a wrap).
    Each step waits for the session's next poll, so a busy machine cannot make it skip steps
    (it once polled only 4 times in 8 timed steps under load)."""
    tree = laptop_tree(tmp_path_factory.mktemp("powercap"))
    meter = _CountedRapl(tree)
    max_range = meter.max_ranges()["intel-rapl:0 package-0"]

    def work():
        value, t_start = max_range - 2_000, time.time_ns()
        for i in range(8):
            value = (value + 1_000) % max_range
            set_energy(tree, "intel-rapl:0", value)
            seen, deadline = meter.reads, time.monotonic() + 10
            while meter.reads < seen + 2 and time.monotonic() < deadline:   # a whole poll after
                time.sleep(0.005)
        write_client_log(tmp_path, "grpc", t_start, 4, 50_000_000, warmup=0)
        return _FakeRun(tmp_path)

    result, report = measure(work, meter=meter, interval_s=0.01)
    assert result.run_dir == tmp_path
    assert report["samples"] >= 8 and report["wraps"] == 1
    saved = json.loads((tmp_path / "energy.json").read_text())
    assert saved["meter"] == "rapl" and saved["wraps"] == 1
    lines = (tmp_path / "energy_samples.csv").read_text().splitlines()
    assert lines[0] == "time_ns,zone,energy_uj" and len(lines) > 5 * 4


def test_session_with_null_meter_does_not_poll(tmp_path):
    with EnergySession(NullMeter()) as s:
        time.sleep(0.01)
    assert s.samples == [] and s._thread is None
    write_client_log(tmp_path, "rest", T0, 3, S)
    report = s.write(tmp_path)
    assert not (tmp_path / "energy_samples.csv").exists()
    assert report["workloads"]["rest"]["cpu_seconds"]["server"] is None  # no resources.csv


def test_meter_failing_mid_run_reports_instead_of_inventing(run_dir, tmp_path_factory):
    tree = laptop_tree(tmp_path_factory.mktemp("powercap"))
    meter = RaplMeter(tree)
    with EnergySession(meter, interval_s=0.01) as s:
        (tree / "intel-rapl:0" / "energy_uj").write_text("gone\n")
        deadline = time.monotonic() + 30            # a bound only: it polls every 10 ms
        while s.error is None and time.monotonic() < deadline:
            time.sleep(0.01)
    report = s.report(run_dir)
    assert "meter read failed during the run" in report["reason"]
    assert report["workloads"]["rest"]["joules"] is None
