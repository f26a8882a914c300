"""Reading a request body as JSON, the steps every API of rxlane takes whatever else it checks: a body must be
there, be UTF-8 JSON without ``NaN``/``Infinity``, be an object, and nest at most ``MAX_DEPTH`` levels.

The store's POS API (plugin/api/http.py ``body_json``/``parse``: media type, ``Decimal`` numbers) and HQ's API
(plugin/hq/api.py ``json_body``: size limits, floats) each call these in their own order. No Flask here: the
steps take the bytes and the parsed value, so HQ imports them without the store's blueprints.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from plugin.errors import InvalidInput

MAX_DEPTH = 8


def depth(obj: Any, level: int = 0) -> int:
    """How deep ``obj`` nests (a scalar 0, ``{}`` 1, ``{"a": []}`` 2); counting stops past ``MAX_DEPTH``."""
    if level > MAX_DEPTH:
        return level
    if isinstance(obj, dict):
        return max([depth(v, level + 1) for v in obj.values()] or [level + 1])
    if isinstance(obj, list):
        return max([depth(v, level + 1) for v in obj] or [level + 1])
    return level


def reject_constant(name: str) -> Any:
    """``json.loads``'s ``parse_constant``: ``NaN``, ``Infinity`` and ``-Infinity`` are not numbers here."""
    raise ValueError(f"{name} is not a number")


def require_body(raw: bytes) -> None:
    """``InvalidInput`` for an empty or blank body."""
    if not raw.strip():
        raise InvalidInput("A JSON body is required.", "请求需要 JSON 内容。")


def decode(raw: bytes, parse_float: Callable[[str], Any] | None = None) -> Any:
    """The body's JSON value (numbers with a fraction through ``parse_float``, float by default); ``InvalidInput``
    when it is not UTF-8 JSON or nests too deeply for the parser."""
    try:
        return json.loads(raw.decode("utf-8"), parse_float=parse_float, parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput("The body is not valid UTF-8 JSON.", "请求内容不是有效的 JSON。") from None


def require_object(obj: Any) -> None:
    """``InvalidInput`` unless the body is a JSON object."""
    if not isinstance(obj, dict):
        raise InvalidInput("The body must be a JSON object.", "请求内容必须是 JSON 对象。")


def require_shallow(obj: Any) -> None:
    """``InvalidInput`` when the body nests deeper than ``MAX_DEPTH``."""
    if depth(obj) > MAX_DEPTH:
        raise InvalidInput("The JSON is nested too deeply.", "JSON 嵌套层级过深。")
