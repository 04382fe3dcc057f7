"""``python -m inferwire ...``: the same command line as the ``inferwire`` script."""
from .cli import run

run()
