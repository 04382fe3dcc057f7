"""Packet capture for inferwire runs: local sessions proven live, remote capture over ssh.

See ``session.py`` (CaptureSession), ``remote.py`` (RemoteCapture), ``probe.py`` (why and how
liveness is proven) and docs/capture-load.md.
"""
from __future__ import annotations

from .bpf import build_filter
from .remote import ClockOffset, RemoteCapture, RemoteOptions, estimate_clock_offset
from .session import (CaptureDied, CaptureOptions, CaptureResult, CaptureSession, RingBuffer,
                      build_argv)
from .tools import ToolInfo, check_interface, check_privileges, find_tool

__all__ = ["CaptureSession", "CaptureOptions", "CaptureResult", "CaptureDied", "RingBuffer",
           "RemoteCapture", "RemoteOptions", "ClockOffset", "estimate_clock_offset",
           "build_filter", "build_argv", "find_tool", "check_privileges", "check_interface",
           "ToolInfo"]
