"""Secrets Manager as the soak sees it: every value that landed in a ring
slot (and when), the SDK's retry backoff on the virtual clock, and fault
windows in the FaultProxy in front of moto.

Writes are watched on the broker's own boto3 clients (``StoreWatch.attach``):
the parameters of each ``PutSecretValue`` are kept until its reply, and only a
200 counts, so the record holds exactly the versions Secrets Manager created,
with the virtual time of each. That record is also a shadow of the ring: the
soak knows what every slot holds without reading it (a read would be one more
call for the faults to meet).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final

from ringcx_broker.timing import Clock, Sleep
from ringcx_broker.tokens import MalformedSlot, StoredToken
from ringcx_dev.faultproxy import AwsFault, FaultProxy

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

_PUT: Final = "PutSecretValue"
_CONTEXT_KEY: Final = "ringcx_dev.soak.put"
WINDOW_COUNT: Final = 1_000_000
"""A window's fault count: more calls than any soak makes while it lasts."""


@dataclass(frozen=True, slots=True)
class SlotWrite:
    """One version created in a ring slot."""

    at: float
    slot: str
    actor: str
    token: StoredToken | None  # None: the value is not a token (garbage, or ``{}``)
    replaced: SlotWrite | None = None  # what held the ring's newest generation just before


def parse_slot(text: str) -> StoredToken | None:
    try:
        return StoredToken.from_secret_string(text or "{}")
    except MalformedSlot:
        return None


class StoreWatch:
    """The versions written to the ring's slots, in order, and what each slot holds now."""

    def __init__(self, clock: Clock, actor: Callable[[], str], slot_ids: Sequence[str]) -> None:
        self._clock = clock
        self._actor = actor
        self._slots = tuple(slot_ids)
        self._current: dict[str, SlotWrite] = {}
        self.writes: list[SlotWrite] = []
        self.refresh_tokens: set[str] = set()  # every refresh token that reached the ring

    def attach(self, client: SecretsManagerClient) -> None:
        events = client.meta.events
        events.register(f"before-parameter-build.secrets-manager.{_PUT}", self._before)
        events.register(f"after-call.secrets-manager.{_PUT}", self._after)

    def _before(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_CONTEXT_KEY] = (params.get("SecretId"), params.get("SecretString"))

    def _after(self, http_response: Any, context: Mapping[str, Any], **_: Any) -> None:
        slot, text = context.get(_CONTEXT_KEY, (None, None))
        if http_response.status_code == 200 and isinstance(slot, str) and isinstance(text, str):
            self.record(slot, text, self._actor())

    def record(self, slot: str, text: str, actor: str) -> None:
        """A version that landed in ``slot`` (also for writes made around the broker)."""
        if slot not in self._slots:
            return  # the credentials secret, say
        token = parse_slot(text)
        if token is not None and self._slots[token.generation % len(self._slots)] != slot:
            token = None  # readers skip a token in the wrong slot
        write = SlotWrite(self._clock(), slot, actor, token, self.newest())
        self.writes.append(write)
        self._current[slot] = write
        if token is not None and token.refresh_token is not None:
            self.refresh_tokens.add(token.refresh_token)

    def holding(self, slot: str) -> SlotWrite | None:
        return self._current.get(slot)

    def newest(self) -> SlotWrite | None:
        """The write that holds the ring's highest generation now."""
        held = [w for w in self._current.values() if w.token is not None]
        return max(held, key=lambda w: w.token.generation if w.token else 0, default=None)

    def times_by_slot(self) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {slot: [] for slot in self._slots}
        for write in self.writes:
            times[write.slot].append(write.at)
        return times


@contextmanager
def sdk_backoff_on(sleep: Sleep) -> Iterator[None]:
    """Make botocore's retry backoff wait on ``sleep`` (the virtual clock).

    The SDK retries throttles, 5xx and dropped connections itself, as it does
    in Lambda, and sleeps between attempts with ``time.sleep`` in
    ``botocore.endpoint``: a real sleep would cost the soak wall time and
    leave the virtual clock where it was. The retry policy itself (which
    errors, how many attempts, how long) stays botocore's.
    """
    import botocore.endpoint

    namespace = vars(botocore.endpoint)
    saved = namespace["time"]
    namespace["time"] = SimpleNamespace(sleep=sleep)
    try:
        yield
    finally:
        namespace["time"] = saved


@dataclass(frozen=True, slots=True)
class _Queued:
    operation: str
    fault: AwsFault
    secret_id: str | None


class StoreFaults:
    """Faults that last a while, in a FaultProxy whose faults are counted.

    A window queues its fault for (practically) every call and takes it back
    when it ends, leaving every other queued fault as it was.
    """

    def __init__(self, proxy: FaultProxy) -> None:
        self._proxy = proxy
        self._open: dict[str, list[_Queued]] = {}

    def burst(self, operation: str, fault: AwsFault, secret_id: str | None = None) -> None:
        self._proxy.inject(operation, fault, secret_id)

    def open(
        self, label: str, operation: str, fault: AwsFault, secret_id: str | None = None
    ) -> None:
        queued = _Queued(operation, dataclasses.replace(fault, count=WINDOW_COUNT), secret_id)
        self._proxy.inject(operation, queued.fault, secret_id)
        self._open.setdefault(label, []).append(queued)

    def close(self, label: str) -> None:
        for window in self._open.pop(label, []):
            self._take_back(window)

    def _take_back(self, window: _Queued) -> None:
        """Clear the operation's queue and queue again all but this window's
        fault (matched by its fields and target; its count has been spent from)."""
        queue = self._proxy.state.queued().get(window.operation, [])
        self._proxy.clear_faults(window.operation)
        taken = False
        for entry in queue:
            fields = {k: v for k, v in entry.items() if k not in ("left", "secret_id")}
            fault = AwsFault.from_json(fields)
            secret_id = entry["secret_id"]
            assert secret_id is None or isinstance(secret_id, str)
            mine = (fault.code, fault.status, fault.drop, secret_id) == (
                window.fault.code,
                window.fault.status,
                window.fault.drop,
                window.secret_id,
            )
            if mine and not taken and fault.count >= WINDOW_COUNT // 2:
                taken = True
                continue
            left = entry["left"]
            assert isinstance(left, int)
            self._proxy.inject(window.operation, dataclasses.replace(fault, count=left), secret_id)
