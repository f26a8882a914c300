"""The insurer gateway through a provincial front-end library (前置机动态库, e.g. ``SiInterface_hsf.dll``) instead of
HTTP.

Some provinces ship the gateway as a library: ``INIT(char *pErrMsg)`` once, then ``BUSINESS_HANDLE(char *in, char
*out)`` per message, the envelope in and the answer out as text in the counter's ANSI code page (GBK). This
transport carries the very envelope ``client.py`` builds and journals (nothing about a message changes, only how it
travels), in the library's own worker process (``adapters/isolated.py``): ``GatewayClient(..., transport=
DllTransport(path))``. Settings: ``[nhsa] transport = "dll"``, ``dll_path``, ``dll_init_args`` (a string some front
ends take before the error buffer: ``INIT(pInit, pErrMsg)``), ``dll_encoding``, ``dll_python``.

What each outcome means for money (the front end's return codes: 0 success; -1 a system error the caller must follow
up, e.g. by reversing; -2 a business error to show) and what this module raises:

    library missing, wrong architecture, no INIT/BUSINESS_HANDLE,
    INIT failed, crashed or hung, the envelope not encodable   FrontEndUnavailable  (GatewayUnreachable: nothing sent)
    BUSINESS_HANDLE hung (killed after timeout_s)              FrontEndTimeout      (GatewayTimeout: outcome unknown)
    BUSINESS_HANDLE crashed                                    FrontEndCrashed      (GatewayConnectionLost: unknown)
    returned -1 or an undocumented code                        FrontEndSystemError  (GatewayConnectionLost: unknown)
    returned -2                                                GatewayRefused with the front end's message, or the
                                                               envelope it answered (the insurer said no)
    answer not in the code page, longer than the buffer        FrontEndBadAnswer    (GatewayProtocolError: unknown)
    returned 0                                                 (200, headers, the answer as UTF-8) for client.py

An unknown outcome puts a settlement in doubt, resolved by 2601 like a lost HTTP answer — never by a second 2102.
After a crash or a hang the next message starts a new worker and calls INIT again.
"""
from __future__ import annotations

import codecs
import json
import logging
import threading

from adapters.isolated import IsolatedLibrary, LibraryCrashed, LibraryError, LibraryHung, LibraryUnavailable, Out
from adapters.nhsa.errors import (GatewayConnectionLost, GatewayProtocolError, GatewayRefused, GatewayTimeout,
                                  GatewayUnreachable)

log = logging.getLogger("rxlane.gateway")
OUT_BYTES = 1 << 20            # answer buffer; vendors' samples allocate 1 MiB for BUSINESS_HANDLE
ERR_BYTES = 4096
INIT_TIMEOUT_S = 30.0
SYMBOLS = ("INIT", "BUSINESS_HANDLE")
ANSWER_HEADERS = {"Content-Type": "application/json;charset=utf-8"}


class FrontEndUnavailable(GatewayUnreachable):
    message = "The gateway front-end library is not usable; nothing was sent."
    message_zh = "医保前置动态库不可用，交易未发出，未发生扣费。"


class FrontEndTimeout(GatewayTimeout):
    message = "The gateway front-end library did not return in time; the outcome is unknown."
    message_zh = "医保前置动态库无响应（已重启），交易结果未知，请勿重复结算，系统将自动核实。"


class FrontEndCrashed(GatewayConnectionLost):
    message = "The gateway front-end library crashed during the call; the outcome is unknown."
    message_zh = "医保前置动态库异常退出（已重启），交易结果未知，请勿重复结算，系统将自动核实。"


class FrontEndSystemError(GatewayConnectionLost):
    message = "The gateway front-end library reported a system error; the outcome is unknown."
    message_zh = "医保前置动态库返回系统错误，交易结果未知，请勿重复结算，系统将自动核实。"


class FrontEndBadAnswer(GatewayProtocolError):
    message = "The gateway front-end library answered something unreadable; the outcome is unknown."
    message_zh = "医保前置动态库返回的内容无法识别，交易结果未知，请勿重复结算，系统将自动核实。"


class DllTransport:
    """``post(infno, data, headers) -> (status, headers, content)`` through INIT + BUSINESS_HANDLE. Thread-safe: the
    library's calls are serialised (front ends keep one connection and are rarely re-entrant)."""

    def __init__(self, path: str, *, init_args: str = "", timeout_s: float = 15.0, encoding: str = "gb18030",
                 python: str = "", library: IsolatedLibrary | None = None) -> None:
        codecs.lookup(encoding)
        self.path = path
        self.init_args = init_args
        self.timeout_s = timeout_s
        self.encoding = encoding
        self.library = library or IsolatedLibrary(path, symbols=SYMBOLS, python=python)
        self._initialised_start = -1          # which worker (by start count) INIT has run in
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DllTransport({self.path!r})"

    def post(self, infno: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        ids = {"infno": infno, "msgid": _msgid_of(data)}
        try:
            envelope = data.decode("utf-8").encode(self.encoding)
        except UnicodeError:
            raise FrontEndUnavailable("The envelope cannot be written in the front end's code page; nothing was sent.",
                                      f"报文含有前置库字符集（{self.encoding}）无法表示的字符，交易未发出。",
                                      **ids) from None
        with self._lock:
            self._initialise(ids)
            try:
                result = self.library.call("BUSINESS_HANDLE", envelope, Out(OUT_BYTES), timeout_s=self.timeout_s)
            except LibraryHung:
                raise FrontEndTimeout(**ids) from None
            except LibraryCrashed as exc:
                log.warning("gateway front end crashed in %s: %s", infno, exc.message)
                raise FrontEndCrashed(**ids) from None
            except LibraryUnavailable as exc:          # the worker restarted and the library no longer loads
                raise self._unavailable(exc, ids) from None
        out = result.outs[0]
        if out.overrun or not out.terminated:
            raise FrontEndBadAnswer("The front end's answer is longer than its buffer; the outcome is unknown.", **ids)
        try:
            text = out.data.decode(self.encoding)
        except UnicodeDecodeError:
            raise FrontEndBadAnswer(f"The front end's answer is not {self.encoding} text; the outcome is unknown.",
                                    **ids) from None
        if result.ret == 0:
            return 200, dict(ANSWER_HEADERS), text.encode("utf-8")
        if result.ret == -2:
            return self._refusal(text, ids)
        log.warning("gateway front end returned %s for %s: %s", result.ret, infno, text[:200])
        raise FrontEndSystemError(**ids)

    def close(self) -> None:
        self.library.close()

    # -- internals ----------------------------------------------------------------------------------------------
    def _initialise(self, ids: dict[str, str]) -> None:
        """INIT once in each worker: before the first message and again after a crash or a hang restarted it."""
        if self.library.alive and self._initialised_start == self.library.starts:
            return
        args: list[bytes | Out] = [Out(ERR_BYTES)]
        if self.init_args:
            try:
                args.insert(0, self.init_args.encode(self.encoding))
            except UnicodeError:
                raise FrontEndUnavailable(message_zh="前置库初始化参数含有无法表示的字符，交易未发出。",
                                          **ids) from None
        try:
            self.library.start()
            result = self.library.call("INIT", *args, timeout_s=INIT_TIMEOUT_S)
        except LibraryError as exc:
            raise self._unavailable(exc, ids) from None
        if result.ret != 0:
            status = result.ret.decode(self.encoding, errors="replace") if isinstance(result.ret, bytes) else result.ret
            reason = result.outs[0].data.decode(self.encoding, errors="replace").strip()[:120]
            self.library.close()
            raise FrontEndUnavailable(f"INIT of the front end failed ({status}); nothing was sent.",
                                      f"医保前置动态库初始化失败（{status}{'：' + reason if reason else ''}），"
                                      "交易未发出，请检查前置机配置。", **ids)
        self._initialised_start = self.library.starts

    @staticmethod
    def _unavailable(exc: LibraryError, ids: dict[str, str]) -> FrontEndUnavailable:
        what = "loaded" if isinstance(exc, LibraryUnavailable) else "initialised"
        return FrontEndUnavailable(f"The front-end library could not be {what}: {exc.message}; nothing was sent.",
                                   f"医保前置动态库不可用：{exc.message_zh}。交易未发出，未发生扣费。", **ids)

    @staticmethod
    def _refusal(text: str, ids: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """-2: a business error. Some front ends answer the insurer's refusing envelope, others a bare message."""
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "infcode" in answer:
            if str(answer.get("infcode")).strip() in ("0", "0.0"):
                raise FrontEndBadAnswer("The front end returned -2 with a successful answer; the outcome is unknown.",
                                        **ids)
            return 200, dict(ANSWER_HEADERS), text.encode("utf-8")
        raise GatewayRefused(-2, text.strip()[:500] or "前置机返回业务错误", None, **ids)


def _msgid_of(data: bytes) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        return ""
    return str(body.get("msgid", ""))[:40] if isinstance(body, dict) else ""
