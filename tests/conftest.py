"""Every test: Ctrl-C reaches the processes the tests start and signal.

A test process started with SIGINT ignored (a background job of a non-interactive shell, some CI
runners) hands that to every child; a child Python started so raises no KeyboardInterrupt, and
the tests that send SIGINT to a capture run (or to this process) would see it ignored.  A
handler here makes the children start with SIGINT at its default."""
import signal


def pytest_configure(config):
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
