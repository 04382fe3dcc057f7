"""Remote capture over a REAL ssh: OpenSSH's sshd on 127.0.0.1 (a free port, a throw-away host key
and client key), `ssh` as the client, tcpdump on the "remote" side — the same machine, so the clock
offset must come out as zero within its uncertainty."""
import os
import shutil
import socket
import subprocess
import time

import pytest

from needs import skip_or_fail

from capture.capture_helpers import remote_capture_of_two
from inferwire.capture import RemoteOptions
from inferwire.capture.remote import measure_clock_offset

pytestmark = pytest.mark.capture

SSHD = "/usr/sbin/sshd"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    """An sshd for root on 127.0.0.1; yields the ssh argv prefix that logs in with a key."""
    missing = [t for t in (SSHD, "ssh", "ssh-keygen") if shutil.which(t) is None]
    if missing or os.geteuid() != 0:
        skip_or_fail(f"needs root and {missing} (Debian packages openssh-server, openssh-client)")
    d = tmp_path / "ssh"
    d.mkdir()
    for key in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                       check=True)
    shutil.copy(d / "client.pub", d / "authorized")
    os.chmod(d / "authorized", 0o600)
    os.makedirs("/run/sshd", exist_ok=True)          # sshd's privilege-separation directory
    port = _free_port()
    (d / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {d / 'host'}\n"
        f"AuthorizedKeysFile {d / 'authorized'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"PidFile {d / 'sshd.pid'}\n")
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                              stderr=subprocess.PIPE, text=True)
    ssh = ("ssh", "-i", str(d / "client"), "-p", str(port), "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR")
    try:
        deadline = time.monotonic() + 10
        while True:
            ok = subprocess.run([*ssh, "127.0.0.1", "true"], capture_output=True, timeout=10)
            if ok.returncode == 0:
                break
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail(f"sshd did not accept a login: {ok.stderr!r}")
            time.sleep(0.2)
        yield ssh
    finally:
        server.terminate()
        server.wait(10)


def test_clock_offset_over_real_ssh_is_zero_within_its_uncertainty(sshd):
    est = measure_clock_offset(RemoteOptions(host="127.0.0.1", output="/x", ssh=sshd,
                                             clock_samples=4))
    assert est.samples == 4 and est.rtt_ns > 0
    assert abs(est.offset_ns) <= est.uncertainty_ns + 1_000_000   # one clock: 0 within rtt/2


def test_remote_capture_over_real_ssh_keeps_first_and_last(sshd, tmp_path):
    remote_capture_of_two(sshd, tmp_path / "remote.pcap", b"over-ssh-first", b"over-ssh-last")
