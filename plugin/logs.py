"""Structured logs: JSON lines (structlog) with the request id, personal data scrubbed whatever a message carries.

Everything — rxlane's own events and third-party stdlib logging — goes through one formatter whose last step
masks personal data (plugin/privacy.py ``scrub``): ID numbers, social-security card numbers, e-voucher and API
tokens anywhere in a value, and names and numbers in fields named for them, so a careless log call cannot leak one
(个人信息保护法).
"""
from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from plugin.privacy import mask_value, scrub_data


def _scrub_values(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Every value of the event: a field named like personal data masked as such (``psn_name``, ``certno``,
    ``card_sn``, ``ecToken`` …), any string scrubbed of ID numbers, card numbers and tokens, nested values too."""
    return {k: mask_value(k, v) if isinstance(v, str) and mask_value(k, v) != v else scrub_data(v)
            for k, v in event.items()}


SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=False),
]


def formatter() -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, _scrub_values,
                    structlog.processors.JSONRenderer(ensure_ascii=False)])


def route_to_stdlib() -> None:
    """structlog events go through the standard logging tree (silent until a handler is configured), never
    straight to stdout: rxlane is also used in-process by tests, benchmarks and the CLI's offline commands."""
    structlog.configure(
        processors=[*SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True)


route_to_stdlib()


def configure_logging(level: int = logging.INFO, stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("waitress").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
