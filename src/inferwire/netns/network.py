"""Set up and tear down a profile's namespaces, links and shaping (the I/O shell around .plan).

    network = Network(profile)
    try:
        network.up()            # NetworkError (what failed, its stderr) if anything cannot be done
        ...                     # server in network.topology.server_ns, client in client_ns
    finally:
        network.close()         # every undo step runs, even if an earlier one failed

Every command is an argv list (no shell); each one run, its exit code and stderr are kept for
the run's manifest.  Leftovers of a run that was killed (SIGKILL: no teardown) are removed by the
next run: namespaces named ``iwn<pid>[crs]`` whose pid is gone.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from ..files import pid_alive
from .plan import PREFIX, Plan, Step, Topology, links_plan, netem_probe, shaping_plan
from .profile import NetworkError, NetworkProfile

COMMAND_TIMEOUT_S = 20
STALE = re.compile(rf"^{PREFIX}(\d+)[crs]$")
DEBIAN = {"ip": "iproute2", "tc": "iproute2", "iptables": "iptables", "sysctl": "procps"}


def run_argv(argv) -> subprocess.CompletedProcess:
    """Run one command (argv list); NetworkError if it cannot be started at all."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        tool = argv[4] if argv[:2] == ("ip", "netns") and len(argv) > 4 else argv[0]
        raise NetworkError(f"{tool} is not installed (Debian package "
                           f"{DEBIAN.get(tool, tool)})") from None
    except subprocess.TimeoutExpired:
        raise NetworkError(f"{' '.join(argv)} did not finish in {COMMAND_TIMEOUT_S} s") from None


class Network:
    """A profile made real on this machine for the life of one run (see the module docstring)."""

    def __init__(self, profile: NetworkProfile, pid: int | None = None):
        self.profile = profile
        self.topology = Topology.for_pid(os.getpid() if pid is None else pid)
        self.done: list[Step] = []
        self.log: list[dict] = []             # every command run: argv, exit code, stderr
        self.teardown_log: list[dict] = []
        self.notes: list[str] = []            # what was left out or cleaned up, in words
        self.delay_applied = False

    # -- set-up ------------------------------------------------------------------------------
    def up(self) -> "Network":
        if os.geteuid() != 0:
            raise NetworkError("--network needs root (it creates network namespaces)")
        self.remove_stale()
        for step in links_plan(self.topology, self.profile.mtu).steps:
            self._do(step)
        self.delay_applied = bool(self.profile.delay_ns) and self._netem_usable()
        shaping = Plan(self.topology)
        shaping_plan(shaping, self.profile, delay=self.delay_applied)
        for step in shaping.steps:
            self._do(step)
        return self

    def _do(self, step: Step) -> None:
        done = run_argv(step.argv)
        self.log.append({"argv": list(step.argv), "what": step.what, "exit_code": done.returncode,
                         "stderr": done.stderr.strip()[-300:]})
        if done.returncode != 0:
            raise NetworkError(f"network set-up failed at '{step.what}': {' '.join(step.argv)}: "
                               f"{done.stderr.strip() or f'exit code {done.returncode}'}")
        self.done.append(step)

    def _netem_usable(self) -> bool:
        """Whether tc's netem qdisc exists here; NetworkError if delay was asked for without
        it, unless the profile allows running without delay."""
        add, delete = netem_probe(self.topology)
        done = run_argv(add)
        if done.returncode == 0:
            run_argv(delete)
            return True
        why = done.stderr.strip() or f"exit code {done.returncode}"
        if "delay" not in self.profile.allow_missing:
            raise NetworkError(
                "delay and jitter need the tc qdisc 'netem' (kernel module sch_netem), which "
                f"this kernel does not have (tc said: {why}). Run without --delay/--jitter (or a "
                "preset without delay), or add --network-allow-missing delay to run without it")
        self.notes.append(f"delay/jitter NOT applied: this kernel has no sch_netem (tc: {why}); "
                          "run without delay as --network-allow-missing delay asked")
        return False

    # -- teardown ----------------------------------------------------------------------------
    def close(self) -> list[dict]:
        """Undo everything done, in reverse, each step even if an earlier one failed (or a
        Ctrl-C came: it is raised again once every step ran); stop any process still inside the
        namespaces first.  Returns (and keeps) the teardown log."""
        created = [s.argv[3] for s in self.done if s.argv[:3] == ("ip", "netns", "add")]
        undos = [s.undo for s in reversed(self.done) if s.undo]
        interrupted = None
        for ns in created:
            try:
                self._stop_processes(ns)
            except KeyboardInterrupt as exc:
                interrupted = exc
        for argv in undos + [("ip", "netns", "del", ns) for ns in reversed(created)]:
            for _ in range(2):                      # once more if a Ctrl-C cut the first try
                try:
                    done = run_argv(argv)
                    entry = {"argv": list(argv), "exit_code": done.returncode,
                             "stderr": done.stderr.strip()[-300:]}
                    break
                except NetworkError as exc:
                    entry = {"argv": list(argv), "exit_code": None, "stderr": str(exc)}
                    break
                except KeyboardInterrupt as exc:      # finish the teardown first
                    interrupted = exc
                    entry = {"argv": list(argv), "exit_code": None, "stderr": "interrupted"}
            self.teardown_log.append(entry)
        self.done = []
        if interrupted is not None:
            raise interrupted
        return self.teardown_log

    def _stop_processes(self, ns: str) -> None:
        """SIGTERM, then SIGKILL, to processes left in ``ns`` (started by this run: nothing
        else runs in a namespace the run created)."""
        try:
            listed = run_argv(("ip", "netns", "pids", ns)).stdout.split()
        except NetworkError:
            return
        pids = [int(p) for p in listed if p.isdigit() and int(p) != os.getpid()]
        for sig, wait_s in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
            pids = [p for p in pids if pid_alive(p)]
            if not pids:
                return
            self.notes.append(f"{sig.name} to {pids}: still running in {ns} at teardown")
            for p in pids:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
                time.sleep(0.05)

    def remove_stale(self) -> None:
        """Delete namespaces of earlier runs whose process is gone (killed before teardown)."""
        listed = run_argv(("ip", "netns", "list"))
        for line in listed.stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            m = STALE.match(name)
            if m and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
                self._stop_processes(name)
                run_argv(("ip", "netns", "del", name))
                self.notes.append(f"removed {name}, left by a run that is gone")

    def to_dict(self) -> dict:
        """What the manifest keeps: the profile, names and addresses, the commands run (with
        their exit codes), the teardown, and notes (e.g. delay left out)."""
        return {"profile": self.profile.to_dict(), "description": self.profile.describe(),
                "topology": self.topology.to_dict(), "delay_applied": self.delay_applied,
                "commands": self.log, "teardown": self.teardown_log, "notes": self.notes}
