"""Structured logs: JSON lines (structlog) with the request id, personal data scrubbed whatever a message carries.

Everything — rxlane's own events and third-party stdlib logging — goes through one formatter whose last step
masks personal data (plugin/privacy.py ``scrub``): ID numbers, social-security card numbers, e-voucher and API
tokens anywhere in a value, and names and numbers in fields named for them, so a careless log call cannot leak one
(个人信息保护法).
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path
from collections.abc import MutableMapping
from typing import Any

import structlog

from plugin.privacy import mask_value, scrub_data


def _scrub_values(_: Any, __: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """Every value of the event: a field named like personal data masked as such (``psn_name``, ``certno``,
    ``card_sn``, ``ecToken`` …), any string scrubbed of ID numbers, card numbers and tokens, nested values too."""
    return {k: mask_value(k, v) if isinstance(v, str) and mask_value(k, v) != v else scrub_data(v)
            for k, v in event.items()}


SHARED: list[Any] = [
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


def configure_logging(level: int = logging.INFO, stream: Any = None, log_file: Path | None = None) -> None:
    """Everything to stderr (systemd's journal, WinSW's log) and, with `log_file`, also to a rotating file."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter())
    handlers: list[logging.Handler] = [handler]
    if log_file is not None:
        handlers.append(rotating_file(log_file))
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("waitress").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def rotating_file(path: Path) -> logging.Handler:
    """10 MB × 5 files; the file 0600 on POSIX (logs are scrubbed, yet they are the store's), and its folder 0700 when
    rxlane creates it — a folder that exists (/tmp, /var/log) is left as it is: other services live there too."""
    created = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        if created:
            os.chmod(path.parent, 0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600))
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8")
    handler.setFormatter(formatter())
    return handler


def log_file_path(setting: str) -> Path | None:
    """`[server] log_file`: "" stderr only; "auto" the platform's log folder (platformdirs: ~/.local/state/rxlane/log
    on Linux, %LOCALAPPDATA%\\rxlane\\Logs on Windows); anything else a path."""
    if not setting:
        return None
    if setting == "auto":
        import platformdirs
        return Path(platformdirs.user_log_dir("rxlane", appauthor=False)) / "rxlane.log"
    return Path(setting)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
