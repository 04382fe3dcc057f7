"""``python -m inferwire.locustfiles NAME``: print the path of a shipped locustfile."""
import sys

from . import EVENTLOG_HOOK, SHIPPED, path

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SHIPPED + (EVENTLOG_HOOK,):
        print(f"usage: python -m inferwire.locustfiles {{{'|'.join(SHIPPED + (EVENTLOG_HOOK,))}}}",
              file=sys.stderr)
        sys.exit(2)
    print(path(sys.argv[1]))
