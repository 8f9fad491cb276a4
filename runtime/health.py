"""The health view on 127.0.0.1: ``GET /health`` (JSON), ``GET /`` (HTML), ``POST /kill``.

A plain :mod:`http.server` answering one request at a time in one supervised thread (no
thread per request), so it cannot pile up threads; a snapshot is cheap to build.
``/health`` answers 200 while the session is healthy and 503 when a thread failed, the
kill switch is engaged or a subscribed feed is stale, so a plain HTTP check can alarm.
"""

from __future__ import annotations

import html
import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from runtime.controls import OperatorControls
from runtime.status import RuntimeStatus
from runtime.threads import Worker

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


def healthy(snapshot: dict[str, Any]) -> bool:
    """No failed thread, no stale feed, kill switch off."""
    return (not any(t["failed"] for t in snapshot["threads"])
            and not any(f["stale"] for f in snapshot["feeds"])
            and not snapshot["kill_switch"]["engaged"])


class _Server(HTTPServer):
    status: RuntimeStatus
    controls: OperatorControls
    refresh_s: int


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        if path == "/health":
            snapshot = self.server.status.snapshot()
            code = HTTPStatus.OK if healthy(snapshot) else HTTPStatus.SERVICE_UNAVAILABLE
            self._send(code, "application/json", json.dumps(snapshot))
        elif path == "/":
            page = status_page(self.server.status.snapshot(), self.server.refresh_s)
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", page)
        else:
            self._send(HTTPStatus.NOT_FOUND, "application/json", '{"error": "not found"}')

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?")[0] != "/kill":
            self._send(HTTPStatus.NOT_FOUND, "application/json", '{"error": "not found"}')
            return
        length = int(self.headers.get("Content-Length") or 0)
        reason = self.rfile.read(length).decode("utf-8", "replace").strip()[:200] if length else ""
        self.server.controls.kill("http", reason or "POST /kill")
        self._send(HTTPStatus.ACCEPTED, "application/json",
                   json.dumps({"kill_switch": "engaged"}))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("health %s - %s", self.address_string(), format % args)

    def _send(self, code: HTTPStatus, content_type: str, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


class HealthServer:
    """The bound server; :meth:`serve` is its supervised thread's target."""

    def __init__(self, status: RuntimeStatus, controls: OperatorControls, port: int,
                 refresh_s: int = 2, poll_s: float = 0.2) -> None:
        self._server = _Server((HOST, port), _Handler)
        self._server.status = status
        self._server.controls = controls
        self._server.refresh_s = refresh_s
        self._server.timeout = poll_s

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def serve(self, worker: Worker) -> None:
        """Answer requests until the worker is told to stop."""
        log.info("health view on %s (/health, /, POST /kill)", self.url)
        try:
            while not worker.stopping:
                worker.beat()
                self._server.handle_request()
        finally:
            self._server.server_close()


def status_page(snapshot: dict[str, Any], refresh_s: int) -> str:
    """A plain HTML page of the snapshot that reloads itself every ``refresh_s`` seconds."""
    def row(*cells: object) -> str:
        return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"

    feeds = "".join(row(f["name"], f["last_tick"], f["age_s"], "STALE" if f["stale"] else "ok")
                    for f in snapshot["feeds"])
    positions = "".join(row(p["symbol"], p["status"], p["quantity"], p["entry_price"],
                            p["mark"], p["hwm"], p["unrealised"])
                        for p in snapshot["positions"]) or row("none")
    pnl = snapshot["day_pnl"]
    decision = snapshot["last_decision"] or {}
    state = "KILLED" if snapshot["kill_switch"]["engaged"] else snapshot["state"]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{int(refresh_s)}">
<title>optscalp {html.escape(snapshot['run_id'])}</title></head><body>
<h1>optscalp paper {html.escape(snapshot['run_id'])}: {html.escape(str(state))}</h1>
<p>replay time {html.escape(snapshot['replay_time'])} (speed {snapshot['speed']}),
breaker {'LATCHED' if snapshot['breaker']['latched'] else 'off'},
day P&amp;L {pnl['total']:.2f} (realised {pnl['realised']:.2f},
unrealised {pnl['unrealised']:.2f})</p>
<h2>Feeds</h2><table border="1">{row('instrument', 'last tick', 'age s', '')}{feeds}</table>
<h2>Positions</h2><table border="1">{row('symbol', 'status', 'qty', 'entry', 'mark', 'hwm',
                                         'P&L')}{positions}</table>
<h2>Last decision</h2><p>{html.escape(str(decision.get('at', '')))}
{html.escape(str(decision.get('kind', '')))}: {html.escape(str(decision.get('reason', '')))}</p>
</body></html>
"""
