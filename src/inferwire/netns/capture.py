"""A capture whose tool runs inside one network namespace and whose probes leave from another.

The tool (dumpcap...) is started with the thread inside ``tool_ns`` (the client's or the
server's namespace), so it sees that namespace's veth.  Liveness probes are bare SYNs sent from
``probe_ns`` (the client's) to the server's address: they cross the client's veth, the router
and the server's veth, so both captures see them, and the server's kernel answers with a RST.
"""
from __future__ import annotations

from ..capture import CaptureSession
from ..capture.bpf import build_filter
from ..capture.probe import Probe
from ..capture.session import build_argv, check_output_path
from ..capture.tools import check_interface, check_privileges, find_tool
from .enter import inside


class NamespaceCapture(CaptureSession):
    """:class:`~inferwire.capture.CaptureSession` on an interface of ``tool_ns``; the options'
    ``probe_host`` and ``probe_port`` (required) say where probes go from ``probe_ns``."""

    def __init__(self, options, *, tool_ns: str, probe_ns: str):
        super().__init__(options)
        self.tool_ns, self.probe_ns = tool_ns, probe_ns

    def _prepare(self) -> list[str]:
        opts = self.options
        self.tool = find_tool(opts.tool, opts.tool_path)
        check_privileges(self.tool)
        with inside(self.tool_ns):
            check_interface(opts.interface)
        self._output = check_output_path(opts, self.tool.name)
        self._probe = Probe(opts.probe_host, opts.probe_port, listen=False)
        self.capture_filter = build_filter(opts.ports, self._probe.port, opts.extra_filter)
        return build_argv(opts, self.tool, self.capture_filter, self._output, self._probe.port)

    def _spawn(self, argv):
        with inside(self.tool_ns):
            return super()._spawn(argv)

    def start(self):
        with inside(self.probe_ns):
            return super().start()

    def stop(self, drain: bool = True):
        if self.result is not None or self._process is None:
            return super().stop(drain)
        with inside(self.probe_ns):
            return super().stop(drain)
