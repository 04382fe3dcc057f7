"""Shared helpers of the load tests: a real HTTP server in its own process."""
import json
import os
import subprocess
import sys
import urllib.request

SERVER = os.path.join(os.path.dirname(__file__), "tiny_http_server.py")


class TinyServer:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, SERVER], stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/"

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "stats", timeout=5) as r:
            return json.loads(r.read())

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
