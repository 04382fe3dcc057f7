"""Make the sample data in captures/ with inferwire's own tools, on loopback only.

    .venv/bin/python captures/make_samples.py [--only NAME ...] [--out DIR]

Each sample is small (< 2 MB) so it can ship in the repository and feed the notebooks and tests:

- ``run-b1/``, ``run-b4/``: capture runs (``inferwire run``) of REST then gRPC, batch 1 and 4;
- ``run-new-conn/``: a capture run that opens a new TCP connection per request (handshakes);
- ``tls-rest.pcapng`` + ``tls-rest.keylog``: REST over TLS, the server's TLS key log;
- ``locust_stats_history.csv``: locust's ``--csv-full-history`` output of a 20 s ramp.

Run folders keep their CSV tables, not the Parquet copies (smaller, diff-able).  Needs capture
privileges (root or dumpcap capabilities) and the embedded server's model (exported on first use).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUNS = {
    "run-b1": dict(batch_size=1, requests=40, connection="reuse"),
    "run-b4": dict(batch_size=4, requests=20, connection="reuse"),
    "run-new-conn": dict(batch_size=1, requests=15, connection="new"),
}

LOCUSTFILE = '''
import json
from locust import FastHttpUser, task, constant

BODY = json.dumps({"signature_name": "predict_images",
                   "instances": [[0.0] * 784]})


class Predict(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def predict(self):
        self.client.post("/v1/models/mnist:predict", data=BODY,
                         headers={"content-type": "application/json"}, name="predict")
'''


def make_run(name: str, options: dict, out: Path, tmp: Path) -> Path:
    """A capture run into ``tmp``, then its small files copied to ``out/name``."""
    from inferwire.experiment import RunConfig, run_experiment
    config = RunConfig(out=str(tmp), name=name, duration_s=None, warmup_requests=3, users=2,
                       **options)
    result = run_experiment(config)
    if result.status != "ok":
        raise SystemExit(f"{name}: run ended {result.status}: {result.problems}")
    dest = out / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for path in sorted(result.run_dir.iterdir()):
        if path.suffix != ".parquet":
            shutil.copy(path, dest / path.name)
            (dest / path.name).chmod(0o644)
    _relocate_manifest(dest / "manifest.json", str(result.run_dir))
    return dest


def _relocate_manifest(path: Path, old_dir: str) -> None:
    """Paths in the manifest pointed into the temporary run folder: make them relative."""
    text = path.read_text().replace(old_dir + "/", "").replace(old_dir, ".")
    path.write_text(text)


def make_tls(out: Path, tmp: Path) -> Path:
    """REST over TLS: 8 requests, each on a new connection (8 handshakes), with the key log."""
    from inferwire.capture import CaptureOptions, CaptureSession
    from inferwire.experiment.run import _usable_port
    from inferwire.serving import make_client, sample_images
    from inferwire.serving.launch import ServerProcess
    from inferwire.serving.model import cached_models
    keylog, certs = tmp / "tls.keylog", tmp / "certs"
    ports = [_usable_port(8500), _usable_port(8501)]
    args = ["--model_base_path", str(cached_models() / "mnist"), "--model_name", "mnist",
            "--port", str(ports[0]), "--rest_api_port", str(ports[1]),
            "--tls-self-signed", str(certs), "--tls-keylog", str(keylog)]
    pcap = tmp / "tls-rest.pcapng"
    with ServerProcess(args) as server:
        session = CaptureSession(CaptureOptions(output=pcap, ports=(server.rest_port,)))
        session.start()
        try:
            with make_client("rest", "127.0.0.1", server.rest_port, tls=True,
                             ca_cert=str(certs / "server.crt"), connection="new") as client:
                for i in range(8):
                    client.predict(sample_images(1, seed=i), request_id=f"tls-{i:04d}")
        finally:
            result = session.stop()
    dest = out / "tls-rest.pcapng"
    shutil.copy(pcap, dest)
    shutil.copy(keylog, out / "tls-rest.keylog")
    for p in (dest, out / "tls-rest.keylog"):
        p.chmod(0o644)
    (out / "tls-rest.json").write_text(json.dumps(
        {"probe_port": result.probe_port, "rest_port": server.rest_port,
         "packets": result.packets, "dropped": result.dropped}, indent=2) + "\n")
    return dest


def make_locust(out: Path, tmp: Path) -> Path:
    """locust, headless, ramping 1 -> 8 users over 20 s against the embedded server's REST API."""
    from inferwire.experiment.run import _usable_port
    from inferwire.serving.launch import ServerProcess
    from inferwire.serving.model import cached_models
    locustfile = tmp / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    ports = [_usable_port(8500), _usable_port(8501)]
    args = ["--model_base_path", str(cached_models() / "mnist"), "--model_name", "mnist",
            "--port", str(ports[0]), "--rest_api_port", str(ports[1])]
    prefix = tmp / "locust"
    locust = Path(sys.executable).with_name("locust")
    with ServerProcess(args) as server:
        subprocess.run([str(locust), "-f", str(locustfile), "--headless", "-u", "8", "-r", "0.5",
                        "-t", "20s", "--host", f"http://127.0.0.1:{server.rest_port}",
                        "--csv", str(prefix), "--csv-full-history", "--only-summary",
                        "--loglevel", "WARNING"], check=True, timeout=120)
    dest = out / "locust_stats_history.csv"
    shutil.copy(f"{prefix}_stats_history.csv", dest)
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(HERE), help="where the samples go (default captures/)")
    p.add_argument("--only", action="append", default=[],
                   help=f"make only these: {', '.join([*RUNS, 'tls', 'locust'])}")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only) or {*RUNS, "tls", "locust"}
    with tempfile.TemporaryDirectory(prefix="inferwire-samples-") as tmp_name:
        tmp = Path(tmp_name)
        for name, options in RUNS.items():
            if name in wanted:
                print(f"{name}: {make_run(name, options, out, tmp)}")
                time.sleep(1)  # a distinct run-folder time stamp
        if "tls" in wanted:
            print(f"tls: {make_tls(out, tmp)}")
        if "locust" in wanted:
            print(f"locust: {make_locust(out, tmp)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
