"""`GET /v1/events`: server-sent events (scans, device states, sale states) for the counter page and the POS."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, stream_with_context

bp = Blueprint("events", __name__)


@bp.get("/v1/events")
def events():
    svc = current_app.extensions["rxlane"]
    stop = svc.extras.setdefault("stopping", __import__("threading").Event())
    stream = svc.events.stream(heartbeat_s=svc.extras.get("heartbeat_s", 15.0), stop=stop)
    return Response(stream_with_context(stream), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
