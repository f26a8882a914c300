"""The insurer gateway client: builds envelopes, signs, posts, and maps every failure to the tree in errors.py.

All low-level failures are translated in ONE place, ``map_exceptions`` (after httpx): whether money may have moved
is decided there and nowhere else. Callers journal ``Envelope.msgid`` and body between ``prepare`` and ``send``
(docs/architecture.md "journal before send").
"""
from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator, Protocol

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProxyError as Urllib3ProxyError

from adapters.nhsa import transactions as tx
from adapters.nhsa.envelope import INF_TIME_FORMAT, Answer, Envelope, MsgIdGenerator, parse_answer
from adapters.nhsa.errors import (GatewayConnectionLost, GatewayError, GatewayOutcomeUnknown,
                                  GatewayProtocolError, GatewayRefused, GatewayTimeout, GatewayUnreachable)
from adapters.nhsa.signing import sign_headers
from adapters.nhsa.smcrypto import SmCryptoError, crypto_for

__all__ = ["GatewayClient", "GatewaySettings", "Envelope", "Answer", "MsgIdGenerator", "map_exceptions",
           "GatewayError", "GatewayRefused", "GatewayUnreachable", "GatewayOutcomeUnknown", "GatewayTimeout",
           "GatewayProtocolError", "GatewayConnectionLost"]

CONTENT_TYPE = "application/json;charset=utf-8"


@dataclass
class GatewaySettings:
    url: str
    path: str = "/fsi/api/rsfComIfsService/callService"
    timeout_s: float = 15
    fixmedins_code: str = ""
    fixmedins_name: str = ""
    mdtrtarea_admvs: str = ""
    recer_sys_code: str = "rxlane"
    opter: str = "0001"
    opter_name: str = "药师"
    opter_type: str = "1"
    infver: str = "V1.0"
    paasid: str = ""
    secret: str = field(default="", repr=False)
    verify_tls: bool = True
    ca_bundle: str = ""
    infno_suffix: dict[str, str] = field(default_factory=dict)
    proxy: str = ""                  # an HTTP(S) proxy to the gateway; "" = direct (the environment is not read)
    # 国密 envelope protection (smcrypto.py), off by default; keys from the settings or a 0600 file
    signtype: str = ""                       # "" | "SM3" | "SM2"
    sm2_private_key: str = field(default="", repr=False)
    sm2_private_key_file: str = ""
    sm2_public_key: str = ""                 # the insurer's; when set, every answer's SM2 signature is verified
    sm4_key: str = field(default="", repr=False)
    sm4_key_file: str = ""
    encrypt_body: bool = False

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/" + self.path.lstrip("/")

    @property
    def signing(self) -> bool:
        return bool(self.paasid and self.secret)

    @property
    def verify(self) -> bool | str:
        return self.ca_bundle or self.verify_tls


def _nothing_was_sent(exc: requests.ConnectionError) -> bool:
    """A connect-phase failure (refused, DNS, TLS handshake, proxy) arrives from urllib3 as MaxRetryError whose
    reason is a connection error; a failure after sending arrives as a ProtocolError/OSError instead."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        reason = inner.reason
        return isinstance(reason, (NewConnectionError, Urllib3ProxyError)) or isinstance(exc, requests.exceptions.SSLError)
    return False


@contextlib.contextmanager
def map_exceptions(infno: str = "", msgid: str = "") -> Iterator[None]:
    """Translate requests/urllib3 failures into the gateway tree, ``from None`` so no body or URL leaks."""
    ids = {"infno": infno, "msgid": msgid}
    try:
        yield
    except GatewayError:
        raise
    except SmCryptoError as exc:
        # an answer we cannot verify or decrypt says nothing about whether the insurer processed the message
        raise GatewayProtocolError(exc.message, exc.message_zh, **ids) from None
    except (requests.exceptions.ConnectTimeout, requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema):
        raise GatewayUnreachable(**ids) from None
    except requests.exceptions.ReadTimeout:
        raise GatewayTimeout(**ids) from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        raise GatewayProtocolError("The insurer's answer was truncated or undecodable.", **ids) from None
    except requests.ConnectionError as exc:
        if _nothing_was_sent(exc):
            raise GatewayUnreachable(**ids) from None
        raise GatewayConnectionLost(**ids) from None
    except (socket.timeout, TimeoutError):
        raise GatewayTimeout(**ids) from None
    except (requests.RequestException, OSError):
        # Anything else after the request may have left: assume it arrived.
        raise GatewayConnectionLost(**ids) from None
    except (ValueError, UnicodeDecodeError):
        raise GatewayProtocolError(**ids) from None


class Transport(Protocol):
    """Carries one envelope instead of HTTP (a provincial front-end library: adapters/nhsa/dll.py). Raises only
    GatewayError subclasses; answers (status, headers, content) as an HTTP post would."""

    def post(self, infno: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]: ...


class GatewayClient:
    """One client per process; thread-safe (one requests.Session, sign-in state under a lock)."""

    def __init__(self, settings: GatewaySettings, msgids: MsgIdGenerator, session: requests.Session | None = None,
                 *, clock: Callable[[], datetime] = datetime.now, transport: Transport | None = None):
        self.settings = settings
        self.transport = transport     # None: requests over HTTP
        self.crypto = crypto_for(settings)  # a misconfigured key fails here, at start-up, never mid-send
        self.msgids = msgids
        if session is None:
            # proxies come from the setting, not from the environment on every send (≈ 1 ms a message to look up,
            # and a stray HTTPS_PROXY on a counter PC must not reroute insurance traffic)
            session = requests.Session()
            session.trust_env = False
            if settings.proxy:
                session.proxies = {"http": settings.proxy, "https": settings.proxy}
        self.session = session
        self._clock = clock
        self._lock = threading.Lock()
        self.sign_no: str = ""
        self.signed_in_at: datetime | None = None

    def __repr__(self) -> str:
        return f"GatewayClient({self.settings!r}, signed_in={bool(self.sign_no)})"

    # -- building -------------------------------------------------------------------------------------------------
    def prepare(self, infno: str, input: dict[str, Any], *, insuplc_admdvs: str = "",
                msgid: str | None = None) -> Envelope:
        s = self.settings
        msgid = msgid or self.msgids.next()
        body = {
            "infno": infno + s.infno_suffix.get(infno, ""),
            "msgid": msgid,
            "mdtrtarea_admvs": s.mdtrtarea_admvs,
            "insuplc_admdvs": insuplc_admdvs,
            "recer_sys_code": s.recer_sys_code,
            "dev_no": "",
            "dev_safe_info": "",
            "cainfo": "",
            "signtype": "",
            "infver": s.infver,
            "opter_type": s.opter_type,
            "opter": s.opter,
            "opter_name": s.opter_name,
            "inf_time": self._clock().strftime(INF_TIME_FORMAT),
            "fixmedins_code": s.fixmedins_code,
            "fixmedins_name": s.fixmedins_name,
            "sign_no": self.sign_no,
            "input": input,
        }
        return Envelope(msgid=msgid, infno=infno, body=body)

    # -- sending --------------------------------------------------------------------------------------------------
    def send(self, env: Envelope) -> Answer:
        s = self.settings
        headers = {"Content-Type": CONTENT_TYPE, "Accept": "application/json"}
        if s.signing:
            env.headers = sign_headers(s.paasid, s.secret)
            headers.update(env.headers)
        # env.body stays plain (the journal keeps what was meant); the wire copy is sealed per send (SM2 nonces)
        data = json.dumps(self.crypto.seal_request(env.body), ensure_ascii=False).encode("utf-8")
        with map_exceptions(env.infno, env.msgid):
            if self.transport is not None:
                status, _, content = self.transport.post(env.infno, data, headers)
            else:
                resp = self.session.post(s.endpoint, data=data, headers=headers, timeout=s.timeout_s,
                                         verify=s.verify)
                status, content = resp.status_code, resp.content
            answer = self._read(status, content, env)
        if answer.infcode != 0:
            raise GatewayRefused(answer.infcode, answer.err_msg, answer, infno=env.infno, msgid=env.msgid)
        return answer

    def _read(self, status: int, content: bytes, env: Envelope) -> Answer:
        try:
            raw = json.loads(content.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise GatewayProtocolError(f"The insurer answered HTTP {status} without a JSON envelope.",
                                       infno=env.infno, msgid=env.msgid) from None
        if isinstance(raw, dict):
            raw = self.crypto.open_answer(raw)  # SmCryptoError → GatewayProtocolError in map_exceptions
        return parse_answer(raw, infno=env.infno, msgid=env.msgid)

    def call(self, infno: str, input: dict[str, Any], **kw: Any) -> dict[str, Any]:
        """prepare + send, returning ``output``. For queries that move no money (no journaling needed)."""
        return self.send(self.prepare(infno, input, **kw)).output

    def sign_in(self, *, mac: str = "", ip: str = "") -> str:
        """9001 签到; keeps ``sign_no`` for every later envelope (sign in once a day and after a restart)."""
        sign_no = tx.parse_sign_in(self.call("9001", tx.sign_in_input(self.settings.opter, mac, ip))).sign_no
        if not sign_no:
            raise GatewayProtocolError("The sign-in answer has no sign_no.", infno="9001")
        with self._lock:
            self.sign_no = sign_no
            self.signed_in_at = self._clock()
        return sign_no
