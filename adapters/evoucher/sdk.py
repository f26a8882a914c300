"""The national e-voucher SDK (医保电子凭证 SDK, ``NationECCode.dll`` or the vendor's Linux ``.so``): the library call
and its failures, nothing more. Building the request and reading the answer are the e-voucher adapter's.

The SDK exports one function, ``char *NationEcTrans(char *url, char *inJson, char *outBuffer)``: it posts
``inJson`` (``{orgId, transType, data:{…}, extra}``, e.g. ``transType`` ``cn.nhsa.qrcode.get`` or ``ec.query``) to
the e-voucher service at ``url`` and writes the answer (``{orgId, code, message, data, extra}``, ``data`` often a
JSON *string*) into ``outBuffer``; its return value is ``"0000"`` when the call itself worked. Strings travel in
the counter's ANSI code page (GBK). The call runs in the library's own worker process (``adapters/isolated.py``),
so a crash or a hang of the SDK costs one decode, never the service.

    sdk = EvoucherSdk("C:/NationECCode/NationECCode.dll", timeout_s=15)
    text = sdk.trans(url, json.dumps(request, ensure_ascii=False))     # the answer as text (str)

Errors (``EvoucherSdkError``: ``code`` from plugin/api/errors.py, English ``message``, Chinese ``message_zh``). A
decode moves no money, so every one of them is safe to retry:

- ``SdkUnavailable`` (EVOUCHER_SDK_UNAVAILABLE): the library is missing, of another architecture, lacks
  ``NationEcTrans``, crashed or hung (the worker restarts on the next call); ``reason`` says which.
- ``SdkFailed`` (EVOUCHER_SDK_FAILED): the return value was not ``"0000"``; ``return_code`` and the SDK's own text
  (``sdk_message``, from ``outBuffer``).
- ``SdkBadAnswer`` (EVOUCHER_SDK_BAD_ANSWER): the answer is empty, not in the code page, or did not fit its buffer
  (no terminating NUL, or written past its end).
"""
from __future__ import annotations

import codecs

from adapters.errors import BilingualError
from adapters.isolated import IsolatedLibrary, LibraryCrashed, LibraryError, LibraryHung, LibraryUnavailable, Out

OUT_BYTES = 20480           # what the SDK's integrators allocate for outBuffer
SUCCESS = "0000"


class EvoucherSdkError(BilingualError):
    code = "EVOUCHER_SDK_UNAVAILABLE"
    message = "The e-voucher SDK failed."
    message_zh = "医保电子凭证解码组件调用失败。"


class SdkUnavailable(EvoucherSdkError):
    code = "EVOUCHER_SDK_UNAVAILABLE"

    def __init__(self, reason: str, message: str, message_zh: str):
        self.reason = reason
        super().__init__(message, message_zh)


class SdkFailed(EvoucherSdkError):
    code = "EVOUCHER_SDK_FAILED"

    def __init__(self, return_code: str, sdk_message: str):
        self.return_code, self.sdk_message = return_code, sdk_message
        super().__init__(f"NationEcTrans returned {return_code!r}",
                         f"医保电子凭证解码失败（{return_code}{'：' + sdk_message if sdk_message else ''}），"
                         "请让患者刷新电子凭证后重新出示。")


class SdkBadAnswer(EvoucherSdkError):
    code = "EVOUCHER_SDK_BAD_ANSWER"


class EvoucherSdk:
    """One SDK library in its worker; calls are serialised."""

    def __init__(self, path: str, *, timeout_s: float = 15.0, encoding: str = "gb18030", python: str = "",
                 out_bytes: int = OUT_BYTES, library: IsolatedLibrary | None = None) -> None:
        codecs.lookup(encoding)
        self.timeout_s = timeout_s
        self.encoding = encoding
        self.out_bytes = out_bytes
        self.library = library or IsolatedLibrary(path, symbols=("NationEcTrans",), python=python)

    def trans(self, url: str, in_json: str) -> str:
        """NationEcTrans(url, in_json, outBuffer) → the answer text; `EvoucherSdkError` otherwise."""
        try:
            args = (url.encode(self.encoding), in_json.encode(self.encoding))
        except UnicodeError:
            raise SdkBadAnswer("The request holds characters the SDK's code page cannot carry.",
                               "解码请求含有电子凭证组件字符集无法表示的字符。") from None
        if any(b"\0" in a for a in args):
            raise SdkBadAnswer("The request holds a NUL character.", "解码请求内容不正确。")
        try:
            result = self.library.call("NationEcTrans", *args, Out(self.out_bytes), restype="str",
                                       timeout_s=self.timeout_s)
        except LibraryError as exc:
            raise _unavailable(exc) from None
        out = result.outs[0]
        if out.overrun or not out.terminated:
            raise SdkBadAnswer(f"The SDK's answer does not fit its {self.out_bytes}-byte buffer.",
                               "电子凭证解码组件返回的内容超出缓冲区长度，请重新扫码。")
        ret = result.ret if isinstance(result.ret, bytes) else b""
        code = ret.decode("ascii", errors="replace").strip()
        if code != SUCCESS:
            text = out.data.decode(self.encoding, errors="replace").strip()[:120]
            raise SdkFailed(code or "(null)", text)
        try:
            text = out.data.decode(self.encoding)
        except UnicodeDecodeError:
            raise SdkBadAnswer(f"The SDK's answer is not {self.encoding} text.",
                               "电子凭证解码组件返回的内容不是 GBK 编码的文本，无法识别。") from None
        if not text.strip():
            raise SdkBadAnswer("The SDK answered nothing.", "电子凭证解码组件没有返回任何内容，请重新扫码。")
        return text

    def close(self) -> None:
        self.library.close()


def _unavailable(exc: LibraryError) -> SdkUnavailable:
    if isinstance(exc, LibraryUnavailable):
        reason = exc.reason
    else:
        reason = "hung" if isinstance(exc, LibraryHung) else "crashed" if isinstance(exc, LibraryCrashed) else "failed"
    return SdkUnavailable(reason, f"e-voucher SDK: {exc.message}", f"医保电子凭证解码组件不可用：{exc.message_zh}。")
