"""Reading answers as real gateways send them (docs/gateway.md, "Reading answers").

Real gateways differ in ways that must never stop a sale or turn a refusal into "unreachable":

- the body's charset comes from ``Content-Type`` (UTF-8, GBK, GB2312, GB18030 — every GB name decoded as GB18030,
  its superset); without one, strict UTF-8 first, then GB18030; a UTF-8 BOM is stripped;
- ``output`` may be an object, ``null``, ``{}``, absent, or a JSON *string* of the object;
- ``infcode`` may be a number or a numeric string;
- optional fields arrive as ``null``, ``""`` or not at all (all three mean "no value"; money that is absent is
  *unknown*, not zero, where the caller needs to know);
- money arrives as numbers or strings; unknown extra fields are normal; lists of one may be a bare object;
- some clients write field names in capitals (``MDTRT_SETL_TYPE``): names are matched case-insensitively by
  lower-casing every key of ``output`` once.

Everything here raises only ``GatewayProtocolError``.
"""
from __future__ import annotations

import codecs
import json
import re
from typing import Any

from adapters.nhsa.errors import GatewayProtocolError

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-]+)", re.IGNORECASE)
_GB = {"gbk", "gb2312", "gb18030", "cp936", "x-gbk", "gb_2312-80", "euc-cn"}


def charset_of(content_type: str | None) -> str | None:
    """The charset a ``Content-Type`` names, normalised: "utf-8", "gb18030" (any GB name), another codec, or
    None when it names none."""
    m = _CHARSET.search(content_type or "")
    if not m:
        return None
    name = m.group(1).strip().lower()
    if name in _GB:
        return "gb18030"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_body(content: bytes, content_type: str | None = None, default: str = "utf-8") -> str:
    """The answer's text. Raises ``GatewayProtocolError`` when the bytes are not text in any charset it could be."""
    declared = charset_of(content_type)
    if content.startswith(codecs.BOM_UTF8):
        content, declared = content[len(codecs.BOM_UTF8):], "utf-8"
    tries = [declared] if declared else ["utf-8", "gb18030"]
    if default not in tries and not declared:
        tries.append(default)
    for name in tries:
        try:
            return content.decode(name or "utf-8")
        except (UnicodeDecodeError, LookupError):
            continue
    raise GatewayProtocolError(f"The insurer's answer is not text in {' or '.join(t or '?' for t in tries)}.")


def lower_keys(value: Any, depth: int = 0) -> Any:
    """Every object key lower-cased, recursively (names are matched case-insensitively, docs/gateway.md)."""
    if depth > 32:
        raise GatewayProtocolError("The insurer's answer is nested too deeply.")
    if isinstance(value, dict):
        return {str(k).lower(): lower_keys(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v, depth + 1) for v in value]
    return value


def output_object(value: Any) -> dict[str, Any] | None:
    """``output`` as an object: None for ``null``/absent/empty string, the parsed object for a JSON string.
    Anything else (a number, a list, a string that is not an object) is ``GatewayProtocolError``."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise GatewayProtocolError("The insurer's answer output is a string that is not JSON.") from None
        if value is None or value == "":
            return None
    if not isinstance(value, dict):
        raise GatewayProtocolError("The insurer's answer output is not an object.")
    return value


def node(output: dict[str, Any], name: str) -> Any:
    """A node of ``output`` (``""`` = output itself). Provinces nest differently: ``{"setlinfo": …}`` and
    ``{"data": {"setlinfo": …}}`` both occur, so the node is also looked for under ``data``."""
    if not name:
        return output
    if name in output and output[name] is not None:
        return output[name]
    inner = output.get("data")
    if isinstance(inner, dict) and inner.get(name) is not None:
        return inner[name]
    return None


def as_rows(value: Any) -> list[dict[str, Any]]:
    """A node that should be a list of objects: None → [], one object → [it]; anything else is an error."""
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise GatewayProtocolError(f"Expected a list in the insurer's answer, got {type(value).__name__}.")
    return [r for r in value if isinstance(r, dict)]


def as_object(value: Any, what: str) -> dict[str, Any]:
    """A node that should be one object: a list of one is accepted; None is an error naming ``what``."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict):
        raise GatewayProtocolError(f"The insurer's answer has no {what}.")
    return value


def text(d: dict[str, Any], key: str) -> str:
    """A text field: None/absent → ""; numbers as written (``3601`` → "3601"); an object is an error."""
    if not isinstance(d, dict):
        raise GatewayProtocolError(f"Expected an object in the insurer's answer, got {type(d).__name__}.")
    value = d.get(key)
    if isinstance(value, (dict, list)):
        raise GatewayProtocolError(f"Expected text for {key!r} in the insurer's answer.")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
