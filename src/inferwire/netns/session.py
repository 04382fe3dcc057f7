"""A capture run's network: what :mod:`inferwire.experiment.run` calls when ``--network`` is on.

:class:`NetworkRun` sets up the profile (:class:`.network.Network`), starts the server in the
server's namespace bound to the server's address, captures on the client's veth (and with
``capture_server`` on the server's too), runs each protocol's load as a child process in the
client's namespace, and at the end stops the second capture and tears everything down.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
import warnings

from ..capture import CaptureOptions
from ..errors import CaptureError, InferwireError, InferwireWarning, LoadError
from ..serving.launch import ServerProcess
from .capture import NamespaceCapture
from .enter import inside
from .network import Network
from .plan import CLIENT_ADDR, SERVER_ADDR
from .profile import NetworkProfile

PROBE_PORT = 9                 # discard: nothing listens there, the server's kernel sends a RST
LOAD_STOP_GRACE_S = 30.0       # after SIGTERM, the load child gets this long to write its summary


class NamespacedServer(ServerProcess):
    """The embedded server started inside a network namespace (it is born there)."""

    def __init__(self, args, namespace: str, **kw):
        super().__init__(args, **kw)
        self.namespace = namespace

    def start(self) -> "NamespacedServer":
        with inside(self.namespace):
            return super().start()


class LoadResult:
    """The load child's summary, with ``to_dict()`` and ``interrupted`` like a LoadSummary."""

    def __init__(self, summary: dict | None, interrupted: bool):
        self.summary, self.interrupted = summary, interrupted

    def to_dict(self) -> dict:
        return dict(self.summary or {}, interrupted=self.interrupted)


class NetworkRun:
    """The network side of one capture run (see the module docstring)."""

    def __init__(self, profile: NetworkProfile, run_dir: Path, say=print):
        self.profile, self.run_dir, self.say = profile, Path(run_dir), say
        self.network = Network(profile)
        self.server_capture = None
        self.server_capture_result = None
        self.problems: list[str] = []

    @property
    def topology(self):
        return self.network.topology

    def up(self) -> "NetworkRun":
        self.say(f"network: {self.profile.describe()}; namespaces "
                 f"{', '.join(self.topology.namespaces)}")
        self.network.up()
        for note in self.network.notes:
            self.say(f"network: {note}")
        return self

    def server(self, args: list[str]) -> NamespacedServer:
        """The embedded server's process, bound to the server's address in its namespace."""
        return NamespacedServer([*args, "--host", SERVER_ADDR], self.topology.server_ns)

    def server_place(self) -> dict:
        """Where a server that is not the embedded one (Triton) runs: ``host`` (its address)
        and ``namespace`` (the server's), as :class:`~inferwire.serving.triton.process.TritonOptions`
        takes them."""
        return {"host": SERVER_ADDR, "namespace": self.topology.server_ns}

    def capture_options(self, output: Path, config, ports, interface: str) -> CaptureOptions:
        return CaptureOptions(output=output, interface=interface, ports=tuple(ports),
                              tool=config.tool, snaplen=config.snaplen,
                              buffer_mb=config.buffer_mb, probe_host=SERVER_ADDR,
                              probe_port=PROBE_PORT)

    def client_capture(self, config, run_dir: Path, ports) -> NamespaceCapture:
        """The run's main capture, on the client's veth (started by the caller)."""
        t = self.topology
        return NamespaceCapture(self.capture_options(run_dir / "capture.pcapng", config, ports,
                                                     t.client_dev),
                                tool_ns=t.client_ns, probe_ns=t.client_ns)

    def start_server_capture(self, config, ports) -> None:
        """With ``capture_server``: a second capture, on the server's veth."""
        if not self.profile.capture_server:
            return
        t = self.topology
        self.server_capture = NamespaceCapture(
            self.capture_options(self.run_dir / "capture_server.pcapng", config, ports,
                                 t.server_dev), tool_ns=t.server_ns, probe_ns=t.client_ns)
        self.say(f"capture: also on the server's veth {t.server_dev}")
        self.server_capture.start()

    def run_load(self, config, protocol: str, targets: dict, server) -> LoadResult:
        """``protocol``'s load as a child process in the client's namespace; SIGTERM to it when
        the server dies or on Ctrl-C (KeyboardInterrupt re-raised once it has stopped)."""
        out = self.run_dir / f".load_{protocol}.json"
        spec = self.run_dir / f".load_{protocol}.spec.json"
        spec.write_text(json.dumps({"config": config.to_dict(), "protocol": protocol,
                                    "targets": targets, "run_dir": str(self.run_dir),
                                    "out": str(out), "parent_pid": os.getpid()}, default=str))
        child, interrupted = None, False
        try:        # the Popen too: a Ctrl-C while leaving the namespace must not orphan it
            with inside(self.topology.client_ns):
                child = subprocess.Popen([sys.executable, "-m", "inferwire.netns.loadchild",
                                          str(spec)], stdin=subprocess.DEVNULL)
            while child.poll() is None:
                if server is not None and server.proc.poll() is not None:
                    child.send_signal(signal.SIGTERM)
                    break
                time.sleep(0.1)
        except KeyboardInterrupt:
            interrupted = True
            if child is not None:
                child.send_signal(signal.SIGTERM)
        finally:
            if child is not None:
                _wait_or_kill(child)
        result = _read_load(out, interrupted)
        for path in (spec, out):
            path.unlink(missing_ok=True)
        if result.summary is None and not result.interrupted:
            raise LoadError(f"the {protocol} load process (in {self.topology.client_ns}) exited "
                            f"with code {child.returncode} without a summary: see its output "
                            "above")
        return result

    def close(self) -> dict:
        """Stop the server-side capture, tear the network down; the manifest's "network"."""
        if self.server_capture is not None:
            try:
                self.server_capture_result = self.server_capture.stop()
            except CaptureError as exc:
                self.server_capture_result = getattr(exc, "result", None)
                self.problems.append(f"server-side capture: {exc}")
            except Exception as exc:            # the teardown below must run whatever happened
                self.problems.append(f"server-side capture: {exc}")
        log = self.network.close()
        failed = [e for e in log if e["exit_code"] != 0]
        for e in failed:
            self.problems.append(f"network teardown: {' '.join(e['argv'])}: {e['stderr']}")
        self.say(f"network: torn down ({len(log) - len(failed)}/{len(log)} steps ok)")
        facts = self.network.to_dict()
        facts["client_addr"], facts["server_addr"] = CLIENT_ADDR, SERVER_ADDR
        if self.server_capture_result is not None:
            facts["server_capture"] = self.server_capture_result.to_dict()
            facts["two_point"] = self._two_points()
        return facts

    def _two_points(self) -> dict | None:
        """Both vantage points analyzed together (inferwire.analysis.vantage), saved under two_point/;
        the manifest keeps the clock offset and where the client's wait went."""

        from ..analysis.vantage import analyze_two  # deferred: analysis.vantage imports hpack, numpy, pandas
        client = self.run_dir / "capture.pcapng"
        if not client.exists():
            return None
        self.say("analysis: both vantage points together (two_point/)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InferwireWarning)
                two = analyze_two(client, self.server_capture_result.path,
                                  ignore_ports=(PROBE_PORT,))
            two.save(self.run_dir / "two_point")
        except (InferwireError, OSError) as exc:
            self.problems.append(f"two-vantage analysis failed: {exc}")
            return None
        return {"offset": two.offset.describe(), "offset_ns": two.offset.offset_ns,
                "uncertainty_ns": two.offset.uncertainty_ns,
                "matched_segments": two.matched_segments,
                "summary": two.summary().to_dict("records")}


def _wait_or_kill(child: subprocess.Popen) -> None:
    try:
        child.wait(LOAD_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(5)


def _read_load(out: Path, interrupted: bool) -> LoadResult:
    try:
        data = json.loads(out.read_text())
    except (OSError, ValueError):
        return LoadResult(None, interrupted)
    return LoadResult(data.get("summary"), interrupted or bool(data.get("interrupted")))
