"""Run the sandbox insurer as a real HTTP server (docs/sandbox.md): the gateway paths of the active profile, the
e-voucher decode service, and the admin API.

``start_sandbox`` returns at once with the server running in a background thread (threaded werkzeug), so the
embedded default (``rxlane serve``), ``rxlane sandbox`` and the tests all use the same server. ``port=0`` picks a
free port; ``.url`` and ``.port`` tell which. ``profile`` is the gateway profile it is strict about (a name in
config/gateways/ or a ``GatewayProfile``; ``national`` by default; ``PUT /sandbox/profile`` changes it while
running); ``secret`` turns on the profile's gateway authentication check (x-ca-sm3, x-tif, apikey);
``token_lifetime_s`` is how long a decoded e-voucher token lives. ``crypto`` (an insurer-side ``SmCrypto``, settable
on a running server as ``.crypto``) makes it a province that requires SM3/SM2 signatures and SM4 bodies.
"""
from __future__ import annotations

import threading
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server

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


class _QuietHandler(WSGIRequestHandler):
    """No access log line per message (tests send thousands); errors are still logged."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SandboxServer:
    def __init__(self, app: Flask, host: str, port: int):
        self.app = app
        self.books: Books = app.extensions["sandbox.books"]
        self.faults: FaultBoard = app.extensions["sandbox.faults"]
        self.gateway: GatewaySetup = app.extensions["sandbox.gateway"]
        self.messages: MessageLog = app.extensions["sandbox.messages"]
        self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"sandbox:{self.port}", daemon=True)

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
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

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
