"""``python -m inferwire.locustfiles NAME``: print the path of a shipped locustfile."""
import sys

from . import EVENTLOG_HOOK, SHIPPED, STREAMING, path

if __name__ == "__main__":
    names = SHIPPED + (EVENTLOG_HOOK, STREAMING)
    if len(sys.argv) != 2 or sys.argv[1] not in names:
        print(f"usage: python -m inferwire.locustfiles {{{'|'.join(names)}}}", file=sys.stderr)
        sys.exit(2)
    print(path(sys.argv[1]))
