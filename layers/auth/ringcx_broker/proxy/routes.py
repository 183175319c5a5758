"""Which of ProxyFunction's three routes an API Gateway event is for.

API Gateway names the matched resource (``resource``); a hand-built or odd
event may lack it, so the path decides then. A path under ``/voice/api`` is
always the voice route, even with bytes the template's route pattern would not
match (a newline, say): such requests still get the voice checks (400/405)
instead of a bare 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

VOICE_RESOURCE = "/voice/api/{proxy+}"
VOICE_PREFIX = "/voice/api"


class Route(StrEnum):
    VOICE = "voice"
    HEALTH = "/health"
    TOKEN = "/token"  # noqa: S105 (a path, not a secret)


def route_of(event: Mapping[str, Any]) -> Route | None:
    resource, path = event.get("resource"), event.get("path")
    if resource == VOICE_RESOURCE or (isinstance(path, str) and path.startswith(VOICE_PREFIX)):
        return Route.VOICE
    for route in (Route.HEALTH, Route.TOKEN):
        if resource == route.value or (resource is None and path == route.value):
            return route
    return None
