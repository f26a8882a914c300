"""The insurer gateway client: builds envelopes, signs, posts, and maps every failure to the tree in errors.py.

All low-level failures are translated in ONE place, ``map_exceptions`` (after httpx): whether money may have moved
is decided there and nowhere else. Callers journal ``Envelope.msgid`` and body between ``prepare`` and ``send``
(docs/architecture.md "journal before send").
"""
from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol
from collections.abc import Callable, Iterator

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProxyError as Urllib3ProxyError

from adapters.nhsa import signin
from adapters.nhsa.envelope import INF_TIME_FORMAT, Answer, Envelope, MsgIdGenerator, parse_answer
from adapters.nhsa.errors import (GatewayConnectionLost, GatewayError, GatewayInputError, GatewayOutcomeUnknown,
                                  GatewayProtocolError, GatewayRefused, GatewayTimeout, GatewayUnreachable)
from adapters.nhsa.profile import GatewayProfile, check_input, load_profile
from adapters.nhsa.jsontext import dumps as jsondumps
from adapters.nhsa.jsontext import money_as_strings
from adapters.nhsa.reading import decode_body
from adapters.nhsa.reconciliation import read_download
from adapters.nhsa.signing import apikey_headers, sign_headers, sm3_ca_headers
from adapters.nhsa.smcrypto import SmCryptoError, crypto_for
from adapters.nhsa.terminal import local_ip_for, mac_for_ip

__all__ = ["GatewayClient", "GatewaySettings", "HttpTransport", "Envelope", "Answer", "MsgIdGenerator",
           "map_exceptions", "encode_body", "GatewayError", "GatewayRefused", "GatewayUnreachable",
           "GatewayOutcomeUnknown", "GatewayTimeout", "GatewayProtocolError", "GatewayConnectionLost"]

CONTENT_TYPE = "application/json;charset=utf-8"


@dataclass
class GatewaySettings:
    """Where and how to reach one gateway. ``profile`` (config/gateways/<name>.toml) says how the province wants
    its messages; ``path`` overrides the profile's single endpoint path when set (e.g. a local front end)."""
    url: str
    path: str = ""
    timeout_s: float = 15
    fixmedins_code: str = ""
    fixmedins_name: str = ""
    mdtrtarea_admvs: str = ""
    opter: str = "0001"
    opter_name: str = "药师"
    profile: GatewayProfile = field(default_factory=lambda: load_profile("national"))
    terminal_ip: str = ""            # the counter's IP and MAC for 9001; "" = read from the interface to the gateway
    terminal_mac: str = ""
    paasid: str = ""
    secret: str = field(default="", repr=False)
    apikey: str = field(default="", repr=False)
    verify_tls: bool = True
    ca_bundle: str = ""
    proxy: str = ""                  # an HTTP(S) proxy to the gateway; "" = direct (the environment is not read)
    # 国密 envelope protection (smcrypto.py), off by default; keys from the settings or a 0600 file
    signtype: str = ""                       # "" | "SM3" | "SM2"
    sm2_private_key: str = field(default="", repr=False)
    sm2_private_key_file: str = ""
    sm2_public_key: str = ""                 # the insurer's; when set, every answer's SM2 signature is verified
    sm4_key: str = field(default="", repr=False)
    sm4_key_file: str = ""
    encrypt_body: bool = False

    def endpoint(self, infno: str) -> str:
        path = self.profile.transport.paths.get(infno) or self.path or self.profile.transport.path
        return self.url.rstrip("/") + "/" + path.lstrip("/")

    def auth_headers(self, body: bytes) -> dict[str, str]:
        """The gateway authentication headers the profile asks for (nothing when its credentials are not set)."""
        auth = self.profile.transport.auth
        if auth == "x-tif" and self.paasid and self.secret:
            return sign_headers(self.paasid, self.secret)
        if auth == "x-ca-sm3" and self.secret:
            return sm3_ca_headers(self.fixmedins_code, self.secret, body)
        if auth == "apikey" and self.apikey:
            return apikey_headers(self.apikey)
        if auth == "none" and self.paasid and self.secret:   # x-tif credentials given without a profile saying so
            return sign_headers(self.paasid, self.secret)
        return {}

    @property
    def verify(self) -> bool | str:
        return self.ca_bundle or self.verify_tls


def _nothing_was_sent(exc: requests.ConnectionError) -> bool:
    """A connect-phase failure (refused, DNS, TLS handshake, proxy) arrives from urllib3 as MaxRetryError whose
    reason is a connection error; a failure after sending arrives as a ProtocolError/OSError instead."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        reason = inner.reason
        return (isinstance(reason, (NewConnectionError, Urllib3ProxyError))
                or isinstance(exc, requests.exceptions.SSLError))
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
    except TimeoutError:
        raise GatewayTimeout(**ids) from None
    except (requests.RequestException, OSError):
        # Anything else after the request may have left: assume it arrived.
        raise GatewayConnectionLost(**ids) from None
    except (ValueError, UnicodeDecodeError):
        raise GatewayProtocolError(**ids) from None


def wire_form(body: dict[str, Any], money: str = "string") -> dict[str, Any]:
    """The envelope as it travels: Decimal values (money, quantities, prices — the builders keep them Decimal) as
    exact strings ("230.00"), or kept Decimal where the profile says ``money = "number"`` (written as JSON numbers
    from their own digits, never through a binary float)."""
    return body if money == "number" else money_as_strings(body)


def encode_body(body: dict[str, Any], money: str = "string") -> bytes:
    """The envelope as UTF-8 JSON bytes (see ``wire_form``)."""
    return jsondumps(wire_form(body, money)).encode("utf-8")


class Transport(Protocol):
    """Carries one envelope to the gateway: HTTP (``HttpTransport``) or a provincial front-end library
    (adapters/nhsa/dll.py). Raises only GatewayError subclasses for its own failures; answers
    ``(status, headers, content)`` as an HTTP post would."""

    def post(self, infno: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]: ...

    def close(self) -> None: ...


class HttpTransport:
    """HTTP POST to the gateway (the default transport). A transport answers ``(status, headers, body bytes)``;
    the gateway's DLL front end is another transport with the same call (adapters/nhsa/dll.py)."""

    def __init__(self, settings: GatewaySettings, session: requests.Session | None = None):
        self.settings = settings
        if session is None:
            # proxies come from the setting, not from the environment on every send (≈ 1 ms a message to look up,
            # and a stray HTTPS_PROXY on a counter PC must not reroute insurance traffic)
            session = requests.Session()
            session.trust_env = False
            if settings.proxy:
                session.proxies = {"http": settings.proxy, "https": settings.proxy}
        self.session = session

    def post(self, infno: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        s = self.settings
        resp = self.session.post(s.endpoint(infno), data=data, headers=headers, timeout=s.timeout_s,
                                 verify=s.verify)
        return resp.status_code, dict(resp.headers), resp.content

    def close(self) -> None:
        self.session.close()


class GatewayClient:
    """One client per process; thread-safe (one transport, sign-in state under a lock). Every message is built from
    the settings' gateway profile and checked against it before it leaves (``GatewayInputError`` names what is
    missing; nothing is sent)."""

    def __init__(self, settings: GatewaySettings, msgids: MsgIdGenerator, session: requests.Session | None = None,
                 *, clock: Callable[[], datetime] = datetime.now, transport: Transport | None = None):
        self.settings = settings
        self.profile = settings.profile
        self.crypto = crypto_for(settings)  # a misconfigured key fails here, at start-up, never mid-send
        self.msgids = msgids
        self.transport = transport or HttpTransport(settings, session)
        self._clock = clock
        self._lock = threading.Lock()
        self.sign_no: str = ""
        self.signed_in_at: datetime | None = None
        self._terminal: tuple[str, str] | None = None

    @property
    def session(self) -> requests.Session:
        return self.transport.session  # type: ignore[attr-defined]  # HTTP transport only

    def __repr__(self) -> str:
        return f"GatewayClient({self.settings!r}, signed_in={bool(self.sign_no)})"

    # -- building -------------------------------------------------------------------------------------------------
    def prepare(self, infno: str, input: dict[str, Any], *, insuplc_admdvs: str = "", insutype: str = "",
                msgid: str | None = None, cainfo: str = "") -> Envelope:
        """The envelope of one message (docs/gateway.md, "Request envelope"), per the profile. Raises
        ``GatewayInputError`` when ``input`` misses a field the profile requires (nothing is sent)."""
        s, profile = self.settings, self.profile
        wire_infno = profile.wire_infno(infno)
        spec = profile.message(wire_infno)
        if spec is not None:
            problems = check_input(spec, input)
            if problems:
                raise GatewayInputError(problems, infno=infno)
        msgid = msgid or self.msgids.next()
        body = {
            "infno": wire_infno,
            "msgid": msgid,
            "mdtrtarea_admvs": s.mdtrtarea_admvs,
            "insuplc_admdvs": insuplc_admdvs,
            "recer_sys_code": profile.recer_sys_code(infno, insutype),
            "dev_no": "",
            "dev_safe_info": "",
            "cainfo": cainfo,
            "signtype": "",
            "infver": profile.envelope.infver,
            "opter_type": profile.envelope.opter_type,
            "opter": s.opter,
            "opter_name": s.opter_name,
            "inf_time": self._clock().strftime(INF_TIME_FORMAT),
            "fixmedins_code": s.fixmedins_code,
            "fixmedins_name": s.fixmedins_name,
            "sign_no": self.sign_no,
            **profile.envelope.extra,
            "input": input,
        }
        return Envelope(msgid=msgid, infno=infno, body=body)

    # -- sending --------------------------------------------------------------------------------------------------
    def send(self, env: Envelope) -> Answer:
        # env.body stays plain (the journal keeps what was meant); the wire copy is sealed per send (SM2 nonces)
        sealed = self.crypto.seal_request(wire_form(env.body, self.profile.envelope.money))
        data = jsondumps(sealed).encode("utf-8")
        headers = {"Content-Type": CONTENT_TYPE, "Accept": "application/json", **self.settings.auth_headers(data)}
        env.headers = {k: v for k, v in headers.items() if k.lower().startswith(("x-", "apikey"))}
        with map_exceptions(env.infno, env.msgid):
            status, answer_headers, content = self.transport.post(self.profile.wire_infno(env.infno), data, headers)
            answer = self._read(status, answer_headers, content, env)
        if answer.infcode != 0:
            raise GatewayRefused(answer.infcode, answer.err_msg, answer, infno=env.infno, msgid=env.msgid)
        return answer

    def _read(self, status: int, headers: dict[str, str], content: bytes, env: Envelope) -> Answer:
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        try:
            text = decode_body(content, content_type, self.profile.transport.answer_charset)
            raw = json.loads(text, parse_float=Decimal)
        except (ValueError, GatewayProtocolError):
            raise GatewayProtocolError(f"The insurer answered HTTP {status} without a readable JSON envelope.",
                                       infno=env.infno, msgid=env.msgid) from None
        if isinstance(raw, dict):
            raw = self.crypto.open_answer(raw)  # SmCryptoError → GatewayProtocolError in map_exceptions
        return parse_answer(raw, infno=env.infno, msgid=env.msgid)

    def fetch_file(self, env: Envelope) -> bytes:
        """Post a message whose answer is a file rather than an envelope (9102 下载): the zip's bytes. A refusal
        comes back as an ordinary envelope and raises ``GatewayRefused``; failures map as for ``send``."""
        data = encode_body(self.crypto.seal_request(env.body), self.profile.envelope.money)
        headers = {"Content-Type": CONTENT_TYPE, **self.settings.auth_headers(data)}
        with map_exceptions(env.infno, env.msgid):
            _, answer_headers, content = self.transport.post(self.profile.wire_infno(env.infno), data, headers)
            content_type = next((v for k, v in answer_headers.items() if k.lower() == "content-type"), "")
            return read_download(content, content_type, infno=env.infno, msgid=env.msgid)

    def call(self, infno: str, input: dict[str, Any], **kw: Any) -> dict[str, Any]:
        """prepare + send, returning ``output``. For queries that move no money (no journaling needed)."""
        return self.send(self.prepare(infno, input, **kw)).output

    def terminal(self) -> tuple[str, str]:
        """(ip, mac) of this counter as the last 9001 reported them (found afresh at every sign-in; before the first,
        found now). Messages that name the terminal (7202's IP) send what the sign-in registered, and the lookup —
        a socket and a walk of the network interfaces — is not paid per message."""
        if self._terminal is None:
            self._terminal = self._find_terminal()
        return self._terminal

    def _find_terminal(self) -> tuple[str, str]:
        s = self.settings
        ip = s.terminal_ip or local_ip_for(s.url)
        return ip, s.terminal_mac or mac_for_ip(ip)

    def sign_in(self) -> str:
        """9001 签到 with the operator and this terminal's IP and MAC; keeps ``sign_no`` for every later envelope
        (sign in once a day, after a restart, and when the gateway says the sign-in is no longer valid)."""
        ip, mac = self._terminal = self._find_terminal()
        with self._lock:
            self.sign_no = ""
        answer = signin.parse_sign_in(self.call("9001", signin.sign_in_input(self.settings.opter, mac, ip)))
        if not answer.sign_no:
            raise GatewayProtocolError("The sign-in answer has no sign_no.", infno="9001")
        with self._lock:
            self.sign_no = answer.sign_no
            self.signed_in_at = self._clock()
        return answer.sign_no
