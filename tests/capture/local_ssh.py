"""Stand-in for ``ssh [-o OPT]... HOST COMMAND`` in tests: runs COMMAND with ``sh -c`` here.

That is what sshd does with a command on the remote host; everything except the network
transport and authentication is therefore exercised for real (remote shell quoting, tcpdump
streaming to stdout, stopping through stdin, the clock exchange).
"""
import os
import sys

command = sys.argv[-1]
os.execvp("sh", ["sh", "-c", command])
