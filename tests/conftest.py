"""Every test: Ctrl-C reaches the processes the tests start and signal; the Triton install
(a fixture of the Triton tests and of the lossy network tests that start Triton).

A test process started with SIGINT ignored (a background job of a non-interactive shell, some CI
runners) hands that to every child; a child Python started so raises no KeyboardInterrupt, and
the tests that send SIGINT to a capture run (or to this process) would see it ignored.  A
handler here makes the children start with SIGINT at its default."""
import signal

import pytest
from needs import skip_or_fail


def pytest_configure(config):
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def triton_install():
    """The Triton install (``.venv-triton``, made by scripts/setup.sh)."""
    from inferwire.errors import ServerError  # deferred: only tests that start Triton need these
    from inferwire.serving.triton.install import find_install  # deferred: as above
    try:
        return find_install()
    except ServerError as exc:
        skip_or_fail(f"Triton is not installed: {exc}")
