"""TLS key log files (the NSS ``SSLKEYLOGFILE`` format written by browsers, curl, OpenSSL, Python).

Each line is ``LABEL <client_random hex> <secret hex>`` (https://udn.realityripple.com/docs/Mozilla/
Projects/NSS/Key_Log_Format, also draft-ietf-tls-keylogfile); ``#`` starts a comment.  The
client random (32 bytes) names the connection.  Labels kept:

* ``CLIENT_RANDOM``: the TLS 1.2 (and older) 48-byte master secret;
* TLS 1.3: ``CLIENT_EARLY_TRAFFIC_SECRET``, ``CLIENT_HANDSHAKE_TRAFFIC_SECRET``,
  ``SERVER_HANDSHAKE_TRAFFIC_SECRET``, ``CLIENT_TRAFFIC_SECRET_0``, ``SERVER_TRAFFIC_SECRET_0``,
  ``EXPORTER_SECRET``, ``EARLY_EXPORTER_SECRET`` (32 or 48 bytes: the suite's hash length).

``CLIENT_TRAFFIC_SECRET_N``/``SERVER_TRAFFIC_SECRET_N`` (OpenSSL logs them after a KeyUpdate)
and ``*_TRAFFIC_SECRET_<n>`` are kept as given (the decryptor derives updated secrets itself).
``RSA`` lines (keyed by the encrypted pre-master secret, not the client random) are skipped
silently.  Any other line that cannot be used (unknown label, bad hex, a secret of the wrong
length, binary garbage) is skipped and counted: the parsed :class:`KeyLog` carries ONE summary in
``warnings`` ("keylog FILE: 12 of 15 lines not understood (first at line 3: ...)"), a
:class:`~inferwire.problems.Problem` the analysis lists with its warnings, so that a wrong file
is named as the cause rather than "no matching secrets" later.  A path that is not a regular
file (a FIFO, a directory, a device) is refused with an :class:`InferwireError` before it is
opened: reading a FIFO would block.  Parsing is pure apart from reading the file when given a
path.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ...errors import InferwireError
from ...files import not_regular
from ...problems import Problem

MASTER_SECRET = "CLIENT_RANDOM"
TLS13_LABELS = ("CLIENT_EARLY_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
                "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET", "EARLY_EXPORTER_SECRET")
LABELS = (MASTER_SECRET, *TLS13_LABELS)
_SKIPPED_LABELS = ("RSA",)
# Secrets after KeyUpdates: "N" (OpenSSL) or a generation number.
_UPDATED_LABEL = re.compile(r"(CLIENT|SERVER)_TRAFFIC_SECRET_(N|[0-9]+)")


def _secret_lengths(label: str) -> tuple[int, ...] | None:
    """Allowed secret sizes in bytes for ``label``, None for an unknown label."""
    if label == MASTER_SECRET:
        return (48,)
    if label in TLS13_LABELS or _UPDATED_LABEL.fullmatch(label):
        return (32, 48)  # the suite's hash length: SHA-256 or SHA-384
    return None


@dataclass(frozen=True)
class KeyLog:
    """Secrets by client random: ``entries[client_random][label] = secret`` (bytes)."""

    entries: Mapping[bytes, Mapping[str, bytes]] = field(default_factory=dict)
    source: str = "<text>"
    # What was wrong with the file (a summary of the lines that could not be used), as
    # Problems (field "keylog"); the analysis lists these with its own warnings.
    warnings: tuple[Problem, ...] = ()

    def secrets(self, client_random: bytes) -> Mapping[str, bytes]:
        """All secrets logged for ``client_random`` (empty when none)."""
        return self.entries.get(bytes(client_random), {})

    def get(self, client_random: bytes, label: str) -> bytes | None:
        """One secret, or None."""
        return self.secrets(client_random).get(label)

    def __contains__(self, client_random: object) -> bool:
        return (isinstance(client_random, (bytes, bytearray))
                and bytes(client_random) in self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def _read_source(source: str | os.PathLike | bytes) -> tuple[str, str]:
    """(text, name): a path is read, text (with a newline or a label) is taken as is."""
    if isinstance(source, bytes):
        return source.decode("utf-8", "replace"), "<bytes>"
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith(
            (*LABELS, *_SKIPPED_LABELS, "#")) or source.strip() == ""):
        return source, "<text>"
    path = Path(source)
    try:
        _check_regular(path)
        return path.read_text("utf-8", errors="replace"), str(path)
    except OSError as exc:
        raise InferwireError(f"{path}: cannot read the TLS key log file: {exc.strerror or exc}") \
            from exc


def _check_regular(path: Path) -> None:
    """InferwireError unless ``path`` is a regular file (checked without opening it: opening a
    FIFO for reading blocks until a writer comes); OSError when it cannot be examined."""
    kind = not_regular(os.stat(path).st_mode)
    if kind is None:
        return
    raise InferwireError(f"{path}: the TLS key log is {kind}, not a regular file; write the key "
                         "log to a file and give its path")


def _parse_line(line: str) -> tuple[str, bytes, bytes] | str | None:
    """(label, client_random, secret), None for a line to skip, or a reason it is malformed."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    parts = line.split()
    if parts[0] in _SKIPPED_LABELS:
        return None
    if len(parts) != 3:
        return f"expected 3 fields (label, client random, secret), found {len(parts)}"
    label, random_hex, secret_hex = parts
    lengths = _secret_lengths(label)
    if lengths is None:
        return f"unknown label {label[:40]!r}"
    try:
        client_random, secret = bytes.fromhex(random_hex), bytes.fromhex(secret_hex)
    except ValueError:
        return "client random or secret is not hex"
    if len(client_random) != 32:
        return f"client random is {len(client_random)} bytes, expected 32"
    if len(secret) not in lengths:
        return f"{label} secret is {len(secret)} bytes, expected one of {lengths}"
    return label, client_random, secret


def parse_keylog(source: str | os.PathLike | bytes) -> KeyLog:
    """Parse a key log given as a path (str or PathLike) or as its text (str with a newline or
    starting with a label, or bytes).  Lines that cannot be used are skipped and counted: the
    result's ``warnings`` holds one summary naming the first (a
    :class:`~inferwire.problems.Problem`).  A file that cannot be read, or is not a regular file,
    raises :class:`InferwireError`."""
    text, name = _read_source(source)
    entries: dict[bytes, dict[str, bytes]] = {}
    used = bad = 0
    first_bad: tuple[int, str] | None = None
    for lineno, line in enumerate(text.split("\n"), start=1):   # numbered as editors do
        parsed = _parse_line(line)
        if isinstance(parsed, str):
            bad += 1
            first_bad = first_bad or (lineno, parsed)
        elif parsed is not None:
            used += 1
            label, client_random, secret = parsed
            entries.setdefault(client_random, {})[label] = secret
    notes = tuple(Problem(note, field="keylog") for note in _summary(name, used, bad, first_bad))
    return KeyLog(entries, name, notes)


def _summary(name: str, used: int, bad: int, first_bad: tuple[int, str] | None) -> tuple[str, ...]:
    """The key log's one warning (or none): how many secret lines could not be used, and why the
    first could not; or that a file holds no secrets at all."""
    if bad:
        lineno, reason = first_bad
        total = used + bad
        return (f"keylog {name}: {bad} of {total} line{'s' if total > 1 else ''} not understood "
                f"(first at line {lineno}: {reason}); those lines are skipped",)
    if not used and name not in ("<text>", "<bytes>"):
        return (f"keylog {name}: no secrets in the file (empty, or only comments): TLS cannot be "
                "decrypted with it",)
    return ()
