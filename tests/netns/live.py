"""Helpers of the live network-namespace tests: what they need, one real lossy capture run
(:func:`run_lossy`), and what is left on the host."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from needs import need_capture, need_tool, skip_or_fail


def need_netns() -> None:
    """Root, ip, tc and iptables (skip with the reason elsewhere, fail under CI=true)."""
    for tool, package in (("ip", "iproute2"), ("tc", "iproute2"), ("iptables", "iptables")):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed (Debian package {package})")
    if os.geteuid() != 0:
        skip_or_fail("network namespaces need root")


def namespaces_of(pid: int) -> list[str]:
    """This machine's network namespaces made by the run of process ``pid``."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = [line.split()[0] for line in out.splitlines() if line.split()]
    return [n for n in names if n in (f"iwn{pid}c", f"iwn{pid}r", f"iwn{pid}s")]


def kernel_has_netem() -> bool:
    """Whether tc can make a netem qdisc here (tried in a namespace made for the question)."""
    ns = f"iwnetem{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        return subprocess.run(["tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem",
                               "delay", "1ms"], capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns])


#: every segment that repeats captured bytes or fills a hole, as tshark labels it. At the
#: receiver, the copy that repairs a loss is labelled a retransmission only when it comes more
#: than tshark's out-of-order threshold (about the connection's lowest RTT, 3 ms at most) after
#: the highest segment; otherwise it is "out of order", and on a fast link it can be every one.
REPAIRS = ("(tcp.analysis.retransmission or tcp.analysis.fast_retransmission or "
           "tcp.analysis.spurious_retransmission or tcp.analysis.out_of_order)")


def repaired_frames(path: Path, display: str = "") -> list[int]:
    """Frames of capture ``path`` that tshark flags as repeating bytes or filling a hole
    (:data:`REPAIRS`), narrowed by the display filter ``display`` if given: the evidence, at
    either vantage point, that a loss happened and was repaired."""
    where = f"{REPAIRS} and ({display})" if display else REPAIRS
    out = subprocess.run(["tshark", "-r", str(path), "-Y", where, "-T", "fields", "-e",
                          "frame.number"], capture_output=True, text=True, check=True)
    return [int(f) for f in out.stdout.split()]


def run_lossy(tmp_path_factory, name: str, args: list[str], kept_env: str):
    """(run folder, manifest, CLI process id) of one real ``scripts/capture_run.py`` run with
    ``args`` (its --out added); with the environment variable ``kept_env`` = FOLDER, that
    kept run folder instead (to re-check a run that failed, e.g. with a new analyzer)."""
    need_tool("tshark", "tshark")
    kept = os.environ.get(kept_env)
    if kept:
        return Path(kept), json.loads((Path(kept) / "manifest.json").read_text()), -1
    need_netns()
    need_capture()
    root = Path(__file__).resolve().parents[2]
    out = tmp_path_factory.mktemp(name)
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    cli = subprocess.Popen([sys.executable, str(root / "scripts" / "capture_run.py"), *args,
                            "--out", str(out), "--quiet"], cwd=root, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = cli.communicate(timeout=240)
    assert cli.returncode == 0, stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir, json.loads((run_dir / "manifest.json").read_text()), cli.pid
