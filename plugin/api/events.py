"""`GET /v1/events`: server-sent events (scans, device states, sale states) for the counter page and the POS.

Under `rxlane serve` each stream runs on a thread of the event-stream pool (plugin/httpserver.py); a stream request
that found the pool full landed on an API worker and is refused ``EVENTS_BUSY`` at once instead of holding it.
"""
from __future__ import annotations

import threading

from flask import Blueprint, Response, current_app, request, stream_with_context

from plugin.errors import RxlaneError

bp = Blueprint("events", __name__)


@bp.get("/v1/events")
def events():
    svc = current_app.extensions["rxlane"]
    pool = svc.extras.get("event_streams")
    if pool is not None and not pool.mine():
        raise RxlaneError("EVENTS_BUSY", details={"open": pool.open, "max": pool.cap, "retry_after_s": 5})
    stop = svc.extras.setdefault("stopping", threading.Event())
    server = svc.settings.server
    stream = svc.events.stream(heartbeat_s=svc.extras.get("heartbeat_s", 15.0), stop=stop,
                               max_s=server.event_stream_max_s, pending=request.environ.get("rxlane.pending_output"),
                               gone=request.environ.get("waitress.client_disconnected"),
                               flush=request.environ.get("rxlane.flush"))
    return Response(stream_with_context(stream), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
