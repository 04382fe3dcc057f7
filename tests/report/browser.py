"""Render a local HTML file in headless Chromium over the DevTools protocol (CDP): console
messages, uncaught exceptions, browser log errors, the images' decoded sizes and a full-page
screenshot.  Loopback only: CDP listens on 127.0.0.1 and the page is a file:// URL."""
from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websocket

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--remote-allow-origins=*", "--window-size=1200,900")


@dataclass
class Rendered:
    console: list = field(default_factory=list)      # (type, text) of console.* calls
    exceptions: list = field(default_factory=list)   # uncaught exception texts
    log_errors: list = field(default_factory=list)   # browser log entries of level error
    images: list = field(default_factory=list)       # (complete, naturalWidth, naturalHeight)
    title: str = ""


class _Cdp:
    def __init__(self, ws_url: str, timeout: float):
        self.ws = websocket.create_connection(ws_url, timeout=timeout)
        self.next_id, self.events = 0, []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method: str, deadline: float) -> None:
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} event")
            self.events.append(json.loads(self.ws.recv()))


def _devtools_port(profile: Path, proc, deadline: float) -> int:
    port_file = profile / "DevToolsActivePort"
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("chromium did not open its DevTools port")
        time.sleep(0.1)
    return int(port_file.read_text().split()[0])


def render(chromium: str, html: Path, screenshot: Path, profile: Path,
           timeout: float = 60) -> Rendered:
    """Open ``html`` in headless Chromium; collect what the page reported; save a screenshot."""
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = _devtools_port(profile, proc, deadline)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        cdp = _Cdp(page["webSocketDebuggerUrl"], timeout)
        for domain in ("Runtime", "Log", "Page"):
            cdp.call(f"{domain}.enable")
        cdp.call("Page.navigate", url=html.resolve().as_uri())
        cdp.wait_event("Page.loadEventFired", deadline)
        result = _collect(cdp)
        _screenshot(cdp, screenshot)
        cdp.ws.close()
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _collect(cdp: _Cdp) -> Rendered:
    js = ("JSON.stringify({title: document.title, images: Array.from(document.images).map("
          "i => [i.complete, i.naturalWidth, i.naturalHeight])})")
    value = json.loads(cdp.call("Runtime.evaluate", expression=js,
                                returnByValue=True)["result"]["value"])
    out = Rendered(title=value["title"], images=[tuple(i) for i in value["images"]])
    for e in cdp.events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.consoleAPICalled":
            out.console.append((p["type"], " ".join(str(a.get("value", a.get("description")))
                                                    for a in p.get("args", []))))
        elif e.get("method") == "Runtime.exceptionThrown":
            out.exceptions.append(p["exceptionDetails"].get("text", ""))
        elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
            out.log_errors.append(p["entry"]["text"])
    return out


def _screenshot(cdp: _Cdp, path: Path) -> None:
    size = cdp.call("Page.getLayoutMetrics")["cssContentSize"]
    height = min(int(size["height"]) + 1, 12000)
    cdp.call("Emulation.setDeviceMetricsOverride", width=1200, height=height,
             deviceScaleFactor=1, mobile=False)
    shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    path.write_bytes(base64.b64decode(shot["data"]))
