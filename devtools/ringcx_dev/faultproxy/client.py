"""Drive a fault proxy that runs in another process, through its control API.

Same method names as ``FaultProxy``, so code that sets latency, queues
faults or reads counters works against either.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import urllib3

from .control import CONTROL_PREFIX
from .faults import AwsFault
from .state import CallRecord


class ControlError(Exception):
    """The control API refused a request (its status and message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class FaultControl(Protocol):
    """What both ``FaultProxy`` and ``FaultProxyClient`` offer."""

    def set_latency(self, seconds: float, operation: str | None = None) -> None: ...
    def clear_latency(self) -> None: ...
    def inject(self, operation: str, fault: AwsFault, secret_id: str | None = None) -> None: ...
    def clear_faults(self, operation: str | None = None) -> None: ...
    def calls(self, operation: str | None = None) -> int: ...
    def log(self) -> list[tuple[str, int]]: ...
    def records(self) -> list[CallRecord]: ...
    def reset_counters(self) -> None: ...


class FaultProxyClient:
    def __init__(self, base_url: str, pool: urllib3.PoolManager | None = None) -> None:
        self.url = base_url.rstrip("/")
        self._pool = pool or urllib3.PoolManager(
            retries=False, timeout=urllib3.Timeout(connect=2.0, read=10.0)
        )

    def _call(self, method: str, name: str, body: dict[str, object] | None = None) -> Any:
        response = self._pool.request(
            method,
            f"{self.url}{CONTROL_PREFIX}{name}",
            body=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        if response.status != 200:
            try:
                message = str(response.json().get("message", ""))
            except ValueError:
                message = response.data.decode(errors="replace")
            raise ControlError(response.status, message)
        return response.json()

    def health(self) -> bool:
        return bool(self._call("GET", "health").get("ok"))

    def set_latency(self, seconds: float, operation: str | None = None) -> None:
        self._call("POST", "latency", {"seconds": seconds, "operation": operation})

    def clear_latency(self) -> None:
        self._call("DELETE", "latency")

    def latency(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "latency")
        return result

    def inject(self, operation: str, fault: AwsFault, secret_id: str | None = None) -> None:
        self._call(
            "POST", "faults", {"operation": operation, "secret_id": secret_id, **fault.to_json()}
        )

    def clear_faults(self, operation: str | None = None) -> None:
        self._call("DELETE", "faults", {"operation": operation})

    def calls(self, operation: str | None = None) -> int:
        counters = self._call("GET", "counters")
        if operation is None:
            return int(counters["total"])
        return int(counters["calls"].get(operation, 0))

    def records(self) -> list[CallRecord]:
        return [
            CallRecord(r["operation"], int(r["status"]), float(r["latency"]), r["fault"])
            for r in self._call("GET", "counters")["log"]
        ]

    def log(self) -> list[tuple[str, int]]:
        return [(r.operation, r.status) for r in self.records()]

    def reset_counters(self) -> None:
        self._call("POST", "reset-counters")
