"""Run the sandbox insurer as a real HTTP server (docs/sandbox.md): the gateway paths of the active profile, the
e-voucher decode service, and the admin API.

``start_sandbox`` returns at once with the server running in a background thread, on waitress — the production
server rxlane itself runs on, not a development server — so the embedded default (``rxlane serve``), ``rxlane
sandbox`` and the tests all use the same server. ``port=0`` picks a free port; ``.url`` and ``.port`` tell which.
``profile`` is the gateway profile it is strict about (a name in config/gateways/ or a ``GatewayProfile``;
``national`` by default; ``PUT /sandbox/profile`` changes it while running); ``secret`` turns on the profile's
gateway authentication check (x-ca-sm3, x-tif, apikey); ``token_lifetime_s`` is how long a decoded e-voucher token
lives. ``crypto`` (an insurer-side ``SmCrypto``, settable on a running server as ``.crypto``) makes it a province
that requires SM3/SM2 signatures and SM4 bodies; None (default) does not.

Each request's environ carries its connection's socket as ``sandbox.socket``: the ``drop_response`` fault
(center.py) commits and then shuts that socket, so the client reads no answer at all.
"""
from __future__ import annotations

import threading
from typing import Any

from flask import Flask, Response, jsonify
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher, WSGITask
from werkzeug.exceptions import HTTPException

from adapters.nhsa.profile import GatewayProfile, load_profile
from adapters.nhsa.smcrypto import SmCrypto
from adapters.sandbox.adjudicate import resolve_policy
from adapters.sandbox.admin import create_admin_blueprint
from adapters.sandbox.books import Books
from adapters.sandbox.center import GATEWAY_PATH, create_gateway_blueprint
from adapters.sandbox.demo import load_demo
from adapters.sandbox.faults import FaultBoard
from adapters.sandbox.gateway import DEFAULT_TOKEN_LIFETIME_S, GatewaySetup
from adapters.sandbox.traffic import MessageLog

__all__ = ["create_sandbox_app", "start_sandbox", "SandboxServer", "GATEWAY_PATH"]


def _profile(profile: GatewayProfile | str | None) -> GatewayProfile:
    return load_profile(profile or "national") if not isinstance(profile, GatewayProfile) else profile


def create_sandbox_app(books: Books, *, faults: FaultBoard | None = None, crypto: SmCrypto | None = None,
                       profile: GatewayProfile | str | None = None, secret: str = "",
                       token_lifetime_s: int = DEFAULT_TOKEN_LIFETIME_S) -> Flask:
    app = Flask("rxlane-sandbox")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["sandbox.books"] = books
    app.extensions["sandbox.faults"] = faults or FaultBoard()
    app.extensions["sandbox.crypto"] = crypto
    app.extensions["sandbox.gateway"] = GatewaySetup(_profile(profile), secret=secret,
                                                     token_lifetime_s=token_lifetime_s)
    app.extensions["sandbox.messages"] = MessageLog()
    app.register_blueprint(create_admin_blueprint())
    app.register_blueprint(create_gateway_blueprint())

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}.get(exc.code or 400,
                                                                                          "INVALID_INPUT")
        return jsonify({"error": {"code": code, "message": exc.description or exc.name,
                                  "message_zh": "请求无效。", "details": {}}}), exc.code or 400

    return app


class _Task(WSGITask):
    def get_environment(self) -> dict[str, Any]:
        environ = super().get_environment()
        environ["sandbox.socket"] = self.channel.socket
        return environ


class _Channel(HTTPChannel):
    task_class = _Task


class _Server(TcpWSGIServer):
    channel_class = _Channel


#: Worker threads: a ``timeout``/``slow`` fault holds one for its delay, and several rxlane processes may share one
#: sandbox in the fault suite.
THREADS = 32


class SandboxServer:
    def __init__(self, app: Flask, host: str, port: int, threads: int = THREADS):
        self.app = app
        self.books: Books = app.extensions["sandbox.books"]
        self.faults: FaultBoard = app.extensions["sandbox.faults"]
        self.gateway: GatewaySetup = app.extensions["sandbox.gateway"]
        self.messages: MessageLog = app.extensions["sandbox.messages"]
        self._adj = Adjustments(host=host, port=port, threads=threads, ident="rxlane-sandbox",
                                asyncore_use_poll=True, connection_limit=1000, channel_timeout=120)
        self._dispatcher = ThreadedTaskDispatcher()
        self._dispatcher.set_thread_count(threads)
        self._map: dict = {}
        try:
            self._server = _Server(app, self._map, dispatcher=self._dispatcher, adj=self._adj,
                                   sockinfo=self._adj.listen[0])
        except BaseException:
            self._dispatcher.shutdown(cancel_pending=True, timeout=1)
            wasyncore.close_all(self._map)
            raise
        self.host = host
        self.port = self._server.effective_port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sandbox:{self.port}", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=1, map=self._map, use_poll=True, count=1)
        finally:
            wasyncore.close_all(self._map)

    @property
    def crypto(self) -> SmCrypto | None:
        return self.app.extensions.get("sandbox.crypto")

    @crypto.setter
    def crypto(self, value: SmCrypto | None) -> None:
        self.app.extensions["sandbox.crypto"] = value

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving; wakes any request held by a ``timeout``/``slow`` fault so nothing lingers."""
        self.faults.stopping.set()
        self._stop.set()
        try:
            self._server.pull_trigger()
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._dispatcher.shutdown(cancel_pending=True, timeout=5)

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


def start_sandbox(host: str = "127.0.0.1", port: int = 8700, *, demo: bool = True, policy: Any = None,
                  crypto: SmCrypto | None = None, profile: GatewayProfile | str | None = "national",
                  secret: str = "", token_lifetime_s: int = DEFAULT_TOKEN_LIFETIME_S) -> SandboxServer:
    books = Books(resolve_policy(policy))
    if demo:
        load_demo(books)
    app = create_sandbox_app(books, crypto=crypto, profile=profile, secret=secret, token_lifetime_s=token_lifetime_s)
    return SandboxServer(app, host, port).start()
