"""A malformed ClientHello and an unsupported link type are said in the analysis's warnings
(which the CLI prints), not left silent (crafted captures)."""
from __future__ import annotations

import subprocess
import sys
import warnings

import pandas as pd
import pytest

import inferwire
from badcraft import BAD_HELLOS, tls_capture
from packets import craft as rawcraft

EXPECTED = {
    "sni_list_length": "field client_hello.server_name_list: client_hello is truncated in "
                       "server_name_list: needs 500 bytes, 6 left",
    "extension_length": "field client_hello.extension_16: client_hello is truncated in "
                        "extension_16: needs 9000 bytes, 2 left",
    "alpn_length": "field client_hello.alpn_protocol: client_hello is truncated in "
                   "alpn_protocol: needs 9 bytes, 2 left",
    "handshake_length": "TLS client_hello at stream offset 0 declares 16777215 bytes, more than "
                        "the 262144 kept: its fields are not read",
}


@pytest.mark.parametrize("name", sorted(BAD_HELLOS))
def test_malformed_client_hello_is_a_connection_warning(tmp_path, name):
    path = tls_capture(tmp_path / f"{name}.pcap", BAD_HELLOS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = inferwire.analyze(path)
    conn = a.connections.iloc[0]
    assert pd.isna(conn["sni"]) and pd.isna(conn["alpn"])
    notes = [w for w in a.warnings if "TLS client: " in w]
    assert len(notes) == 1 and EXPECTED[name] in notes[0], a.warnings
    assert len(a.requests) == 1          # the record layer still gives the inferred exchange


def test_malformed_client_hello_reaches_the_cli(tmp_path):
    path = tls_capture(tmp_path / "sni.pcap", BAD_HELLOS["sni_list_length"])
    done = subprocess.run([sys.executable, "-m", "inferwire.cli", "analyze", "--quiet",
                           str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and EXPECTED["sni_list_length"] in done.stdout


def test_unsupported_link_type_names_it_and_what_is_read(tmp_path):
    path = tmp_path / "usb.pcap"
    path.write_bytes(rawcraft.pcap([(1, 0, b"x" * 60), (2, 0, b"y" * 60)], linktype=189))
    done = subprocess.run([sys.executable, "-m", "inferwire.cli", "analyze", "--quiet",
                           str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "2 packets (0 TCP)" in done.stdout
    assert (f"{path}: offset 40: link type 189 is not supported (inferwire reads Ethernet 1, "
            "Linux cooked 113 and 276") in done.stdout
