"""A sub-command given on the line imports only its own module (``inferwire.cli.COMMANDS``):
the map is what the modules register, help still lists every command, and ``inferwire
analyze`` runs without the other areas' modules."""
import argparse
import importlib
import subprocess
import sys

from inferwire.cli import COMMAND_MODULES, COMMANDS, build_parser


def _registered(module: str) -> set[str]:
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module).register(sub)
    return set(sub.choices)


def test_the_map_names_each_command_of_each_module():
    found = {name: module for module in COMMAND_MODULES for name in _registered(module)}
    assert found == COMMANDS


def test_one_command_builds_its_own_parser_and_help_lists_them_all():
    def commands(parser):
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return set(sub.choices)
    assert commands(build_parser("analyze")) == {"analyze"}
    assert commands(build_parser("findings")) == {"sweep", "findings"}
    assert commands(build_parser()) == commands(build_parser("--help")) == set(COMMANDS)
    assert commands(build_parser("no-such-command")) == set(COMMANDS)
    help_text = subprocess.run([sys.executable, "-m", "inferwire", "--help"],
                               capture_output=True, text=True, timeout=120).stdout
    assert all(name in help_text for name in COMMANDS)


def test_analyze_imports_no_other_areas_command_module(tmp_path):
    others = [m for m in COMMAND_MODULES if m != COMMANDS["analyze"]]
    script = ("import sys\nfrom inferwire.cli import main\n"
              f"code = main(['analyze', {str(tmp_path / 'none')!r}])\n"
              f"print(code, [m for m in {others!r} if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split("\n")[0] == "1 []", done.stdout + done.stderr
    assert "inferwire: error:" in done.stderr


def test_the_progress_bar_is_drawn_on_a_terminal_only(tmp_path):
    """``inferwire analyze``'s progress bar goes to standard error when that is a terminal
    (a pseudo-terminal here), not into a pipe or a file, and never with ``--quiet``."""
    import fcntl
    import os
    import pty
    import struct
    import termios
    from pathlib import Path
    capture = str(Path(__file__).resolve().parents[2] / "captures" / "run-b1" / "capture.pcapng")

    def stderr_of(*extra, terminal: bool) -> str:
        cmd = [sys.executable, "-m", "inferwire", "analyze", capture, *extra]
        if not terminal:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            return done.stderr
        main, other = pty.openpty()
        # a terminal 100 columns wide (tqdm draws nothing on one of no width)
        fcntl.ioctl(other, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=other)
        os.close(other)
        got = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:                  # the other end closed: the process is done
                break
            if not chunk:
                break
            got += chunk
        os.close(main)
        assert proc.wait(timeout=300) == 0
        return got.decode("utf-8", "replace")
    assert "pkt" in stderr_of(terminal=True)
    assert "pkt" not in stderr_of("--quiet", terminal=True)
    assert "pkt" not in stderr_of(terminal=False)
