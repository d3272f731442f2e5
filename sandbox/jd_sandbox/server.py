"""The HTTP server (stdlib, one thread per connection, HTTP/1.1 keep-alive) and ``Sandbox``, the
context manager that runs it on a loopback port in background threads and stops it within ~2 s,
even while a request hangs (hangs and latency wait on a stop event; open sockets are shut down)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ._http import Response
from ._time import from_datetime, to_datetime
from .app import App, parse_params
from .config import Faults, SandboxConfig
from .truth import Truth

MAX_BODY = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "jd-sandbox/1.0"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are closed after this many seconds
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, threading.current_thread(), add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, threading.current_thread(), add=False)

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        if self.server.verbose:
            super().log_message(format, *args)

    def _dispatch(self, method: str) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(Response.json({"error": "body too large"}, status=413), head=False)
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        try:
            params = parse_params(parts.query, body, self.headers.get("Content-Type", ""))
        except (UnicodeDecodeError, ValueError):
            self._send(
                Response.json({"code": 400, "message": "undecodable parameters", "data": None}, status=400),
                head=False,
            )
            return
        response = app.handle(method, parts.path, params)
        if response.hang_seconds:
            app.stopping.wait(response.hang_seconds)
        if response.drop or (app.stopping.is_set() and response.hang_seconds):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(response, head=method == "HEAD")

    def _send(self, response: Response, head: bool) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # Sandbox.stop joins the handler threads itself, with a deadline
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App, verbose: bool = False):
        super().__init__(address, _Handler)
        self.app = app
        self.verbose = verbose
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}

    def track(self, conn: socket.socket, thread: threading.Thread, add: bool) -> None:
        with self._lock:
            if add:
                self._conns[conn] = thread
            else:
                self._conns.pop(conn, None)

    def close_connections(self) -> list[threading.Thread]:
        with self._lock:
            items = list(self._conns.items())
        for conn, _ in items:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        return [t for _, t in items]

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.verbose:
            super().handle_error(request, client_address)


class Sandbox:
    """A running sandbox: ``with Sandbox(SandboxConfig(seed=7)) as sb: ... sb.base_url ...``."""

    def __init__(self, config: SandboxConfig | None = None, *, verbose: bool = False):
        self.config = config or SandboxConfig()
        self._app = App(self.config)
        self._verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._app.stopping.clear()
        self._server = _Server((self.config.host, self.config.port), self._app, self._verbose)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="jd-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        deadline = time.monotonic() + timeout
        self._app.stopping.set()
        server.shutdown()
        server.server_close()
        threads = server.close_connections()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """``JD_*`` variables pointing the package's clients at this sandbox."""
        return env_for(self.base_url, self.config)

    # ------------------------------------------------------------------ simulated clock
    @property
    def now(self) -> datetime:
        return to_datetime(self._app.clock.now())

    def advance(self, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
        self._app.clock.advance(days * 86400 + hours * 3600 + minutes * 60 + seconds)
        return self.now

    def set_now(self, dt: datetime) -> datetime:
        self._app.clock.set(from_datetime(dt))
        return self.now

    # ------------------------------------------------------------------ truth, counters, faults
    @property
    def truth(self) -> Truth:
        return self._app.truth

    @property
    def app(self) -> App:
        return self._app

    def counters(self) -> dict[str, dict[str, int]]:
        return self._app.counters.snapshot()

    def reset_counters(self) -> None:
        self._app.counters.reset()

    def set_faults(self, faults: Faults) -> None:
        self._app.set_faults(faults)

    def set_rate_limit(self, gateway: str, rps: float | None) -> None:
        self._app.set_rate_limit(gateway, rps)

    def fail_item(self, item_id: str, code: int = 301) -> None:
        """Every call naming this item (itemId, wareId or order_id) answers ``code`` until cleared."""
        self._app.overrides.fail_item(item_id, code)

    def clear_item_failures(self) -> None:
        self._app.overrides.clear_item_failures()

    def force_code(self, gateway: str, code: int | str, count: int | None = None) -> None:
        """The next ``count`` calls (all, if None) to ``gateway`` answer ``code`` (e.g. 303, 601, "401")."""
        self._app.overrides.force_code(gateway, code, count)

    def clear_forced(self, gateway: str | None = None) -> None:
        self._app.overrides.clear_forced(gateway)

    def reset_detail_tasks(self) -> None:
        """Forget detail polls, so every item answers pending again."""
        self._app.gateways["justone"].reset_tasks()


#: The request rates the demo and ``jd_sandbox env`` give the clients (the sandbox allows 50/s per gateway;
#: the production defaults are more careful). One value for both, so that ``make dev`` pointed at a sandbox
#: loads the demo's resource configuration, and with it the job snapshots of the demo's runs.
CLIENT_RATES = {"JD_JUSTONE_RPS": "25", "JD_JOS_RPS": "25", "JD_FENGCHAO_RPS": "25"}


def env_for(base_url: str, cfg: SandboxConfig) -> dict[str, str]:
    base_url = base_url.rstrip("/")
    return {
        "JD_JUSTONE_BASE_URL": base_url,
        "JD_JUSTONE_TOKEN": cfg.token,
        "JD_JOS_BASE_URL": base_url + "/routerjson",
        "JD_JOS_APP_KEY": cfg.jos_app_key,
        "JD_JOS_APP_SECRET": cfg.jos_app_secret,
        "JD_JOS_ACCESS_TOKEN": cfg.jos_access_token,
        "JD_FENGCHAO_BASE_URL": base_url + "/fengchao",
        "JD_FENGCHAO_APP_ID": cfg.fengchao_app_id,
        "JD_FENGCHAO_APP_SECRET": cfg.fengchao_app_secret,
        "JD_FENGCHAO_SELLER_NICK": cfg.fengchao_seller_nick,
    }
