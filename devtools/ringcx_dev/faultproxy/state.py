"""What the proxy adds, what it has queued, and what it has seen: thread-safe.

One lock guards everything, so a fault queued with ``count=1`` is taken by
exactly one of two concurrent calls, and a counter read never sees half a
reset.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Final

from .faults import AwsFault

DROPPED: Final = 0
"""The status recorded for a call whose connection was closed without an answer."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One forwarded or faulted call: its name, the status the caller got
    (``DROPPED`` if none), the latency added before it and the fault code
    that answered it (``"drop"`` for a dropped connection)."""

    operation: str
    status: int
    latency: float = 0.0
    fault: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "operation": self.operation,
            "status": self.status,
            "latency": self.latency,
            "fault": self.fault,
        }


@dataclass(frozen=True, slots=True)
class TakenFault:
    """A queued fault a call matched; ``secret_id`` set when it targets one secret."""

    fault: AwsFault
    secret_id: str | None = None


@dataclass(slots=True)
class _Pending:
    fault: AwsFault
    secret_id: str | None
    left: int


def check_latency(seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"latency must be a finite number >= 0, got {seconds!r}")
    return float(seconds)


class ProxyState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._default_latency = 0.0
        self._latency: dict[str, float] = {}
        self._faults: dict[str, list[_Pending]] = {}
        self._records: list[CallRecord] = []

    # -- latency --------------------------------------------------------------

    def set_latency(self, seconds: float, operation: str | None = None) -> None:
        """Latency added before forwarding: ``operation=None`` sets the default
        for every operation; a per-operation value wins over it."""
        seconds = check_latency(seconds)
        with self._lock:
            if operation is None:
                self._default_latency = seconds
            else:
                self._latency[operation] = seconds

    def clear_latency(self) -> None:
        with self._lock:
            self._default_latency = 0.0
            self._latency.clear()

    def latency_for(self, operation: str) -> float:
        with self._lock:
            return self._latency.get(operation, self._default_latency)

    def latency(self) -> dict[str, object]:
        with self._lock:
            return {"default": self._default_latency, "operations": dict(self._latency)}

    # -- faults ---------------------------------------------------------------

    def inject(self, operation: str, fault: AwsFault, secret_id: str | None = None) -> None:
        """Queue ``fault`` for the next ``fault.count`` calls of ``operation``
        (that name ``secret_id``, when given), after those queued before it."""
        with self._lock:
            pending = _Pending(fault, secret_id, fault.count)
            self._faults.setdefault(operation, []).append(pending)

    def clear_faults(self, operation: str | None = None) -> None:
        with self._lock:
            if operation is None:
                self._faults.clear()
            else:
                self._faults.pop(operation, None)

    def queued(self) -> dict[str, list[dict[str, object]]]:
        with self._lock:
            return {
                operation: [
                    {**p.fault.to_json(), "left": p.left, "secret_id": p.secret_id} for p in queue
                ]
                for operation, queue in self._faults.items()
                if queue
            }

    def take(
        self, operation: str, secret_ids: tuple[str, ...], batch: bool = False
    ) -> list[TakenFault]:
        """The faults this call meets, consuming one use of each.

        The first queued fault that matches decides: a fault for any secret
        answers the whole call, as does a secret-targeted one on a
        single-secret call. On a batch call whose first match targets a secret,
        every queued secret-targeted fault for a listed secret applies (one per
        secret), since AWS fails each secret of a batch on its own.
        """
        with self._lock:
            queue = self._faults.get(operation, [])
            matching = [p for p in queue if p.secret_id is None or p.secret_id in secret_ids]
            if not matching:
                return []
            first = matching[0]
            if first.secret_id is None or not batch:
                chosen = [first]
            else:
                chosen, seen = [], set()
                for p in matching:
                    if p.secret_id is not None and p.secret_id not in seen:
                        seen.add(p.secret_id)
                        chosen.append(p)
            for p in chosen:
                p.left -= 1
            self._faults[operation] = [p for p in queue if p.left > 0]
            return [TakenFault(p.fault, p.secret_id) for p in chosen]

    # -- counters -------------------------------------------------------------

    def record(self, call: CallRecord) -> None:
        with self._lock:
            self._records.append(call)

    def calls(self, operation: str | None = None) -> int:
        """Calls seen (forwarded, faulted or dropped), of one operation or of all."""
        with self._lock:
            if operation is None:
                return len(self._records)
            return sum(1 for r in self._records if r.operation == operation)

    def records(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    def reset_counters(self) -> None:
        with self._lock:
            self._records.clear()

    def counters(self) -> dict[str, object]:
        """The JSON of ``GET /_faultproxy/counters``."""
        records = self.records()
        return {
            "total": len(records),
            "calls": dict(Counter(r.operation for r in records)),
            "log": [r.to_json() for r in records],
        }
