"""What each kind of episode does to the world when it starts and when it ends.

RingCX and RingCentral faults are simulator windows or settings; Secrets
Manager faults are FaultProxy faults in AWS's wire format (a burst is a
count of calls, an outage a window); container faults rebuild a container.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from ringcx_dev.faultproxy import AwsFault
from ringcx_dev.simulator import Fault

from .schedule import Episode, Kind
from .simstate import SimWindow
from .store import parse_slot
from .world import Kill, World

Action = Callable[[World, Episode, str], None]

SLOT_OPERATIONS: Final = ("GetSecretValue", "PutSecretValue", "BatchGetSecretValue")
EVERY_OPERATION: Final = (
    "BatchGetSecretValue",
    "GetSecretValue",
    "PutSecretValue",
    "DescribeSecret",
    "TagResource",
)
GARBAGE: Final = ("{not json", "[]", '{"generation": "seven"}', "null", "<html>oops</html>")
DEFAULT_EXPIRED_MESSAGE: Final = "Jwt is expired"


def start(world: World, episode: Episode, label: str) -> None:
    world.active[label] = episode
    _STARTS[episode.kind](world, episode, label)


def finish(world: World, episode: Episode, label: str) -> None:
    world.active.pop(label, None)
    end = _ENDS.get(episode.kind)
    if end is not None:
        end(world, episode, label)


# -- RingCX and RingCentral (the simulator) ------------------------------------------------


def _window(
    endpoint: str, fault: Fault | None = None, calls: int | None = None, status: int | None = None
) -> Action:
    """A simulator fault window: ``fault`` (or one with ``status`` or the
    episode's, and its retry_after) for the calls in it, all or ``calls`` of them."""

    def apply(world: World, episode: Episode, label: str) -> None:
        now = world.clock()
        chosen = fault or Fault(status=status or episode.status, retry_after=episode.retry_after)
        world.simstate.open_window(
            SimWindow(label, endpoint, chosen, now, now + episode.duration, calls or episode.count)
        )

    return apply


def _configure(**changes: object) -> Action:
    def apply(world: World, _episode: Episode, _label: str) -> None:
        world.sim.configure(**changes)

    return apply


def _both(*actions: Action) -> Action:
    def apply(world: World, episode: Episode, label: str) -> None:
        for action in actions:
            action(world, episode, label)

    return apply


def _dead_refresh(world: World, episode: Episode, _label: str) -> None:
    world.sim.configure(dead_refresh_reply=episode.mode or "401")
    world.sim.revoke_refresh_tokens()
    world.kills.append(Kill(world.clock(), f"refresh tokens revoked (answered {episode.mode})"))


def _expire(world: World, _episode: Episode, _label: str) -> None:
    world.sim.expire_access_tokens()


def _skew(world: World, episode: Episode, _label: str) -> None:
    world.sim.configure(clock_skew=episode.skew or 0.0)


def _exchange_denied(world: World, episode: Episode, _label: str) -> None:
    world.sim.configure(exchange_denied_status=episode.status or 403)


# -- Secrets Manager (the FaultProxy) -------------------------------------------------------


def _aws_error(status: int | None) -> Callable[..., AwsFault]:
    return AwsFault.service_unavailable if status == 503 else AwsFault.internal_error


def _store_burst(throttle: bool) -> Action:
    def apply(world: World, episode: Episode, _label: str) -> None:
        count = episode.count or 1
        fault = AwsFault.throttling(count) if throttle else _aws_error(episode.status)(count)
        world.store_faults.burst(episode.operation or "GetSecretValue", fault)

    return apply


def _store_outage(world: World, episode: Episode, label: str) -> None:
    operations = EVERY_OPERATION if episode.operation == "all" else (episode.operation or "",)
    for operation in operations:
        world.store_faults.open(label, operation, _aws_error(episode.status)())


def _slot_window(fault: Callable[[], AwsFault], operations: tuple[str, ...]) -> Action:
    def apply(world: World, episode: Episode, label: str) -> None:
        slot = world.slot_id(episode.slot or 0)
        for operation in operations:
            world.store_faults.open(label, operation, fault(), secret_id=slot)
        if operations != ("PutSecretValue",):
            world.slot_gone.append((slot, world.clock(), world.clock() + episode.duration))

    return apply


def _batch_denied(world: World, _episode: Episode, label: str) -> None:
    world.store_faults.open(label, "BatchGetSecretValue", AwsFault.access_denied())


def _close_store(world: World, _episode: Episode, label: str) -> None:
    world.store_faults.close(label)


def _garbage(world: World, episode: Episode, _label: str) -> None:
    slot = world.slot_id(episode.slot or 0)
    newest = world.newest()
    text = world.rng.choice(GARBAGE)
    world.admin.put_secret_value(SecretId=slot, SecretString=text)
    world.watch.record(slot, text, "soak")
    if newest is not None and newest.slot == slot and parse_slot(text) is None:
        world.kills.append(Kill(world.clock(), "garbage over the newest generation's slot"))


# -- containers and operators ---------------------------------------------------------------


def _pending_loss(world: World, _episode: Episode, label: str) -> None:
    world.store_faults.open(label, "PutSecretValue", AwsFault.service_unavailable())
    world.arm_pending_loss(label)


def _end_pending_loss(world: World, _episode: Episode, label: str) -> None:
    world.disarm_pending_loss(label)
    world.store_faults.close(label)


def _recycle_proxy(world: World, episode: Episode, _label: str) -> None:
    world.recycle_proxy((episode.proxy or 0) % len(world.proxies))


_BARE_429 = Fault(status=429)  # its Retry-After comes from the config, which is switched off

_STARTS: Final[Mapping[Kind, Action]] = {
    Kind.REFRESH_5XX_BURST: _window("rcx_refresh"),
    Kind.REFRESH_5XX_OUTAGE: _window("rcx_refresh"),
    Kind.REFRESH_DROP: _window("rcx_refresh", Fault(drop=True)),
    Kind.REFRESH_429: _window("rcx_refresh", calls=1, status=429),
    Kind.REFRESH_429_BARE: _both(
        _configure(retry_after_header=False), _window("rcx_refresh", _BARE_429, 1)
    ),
    Kind.REFRESH_503_RETRY_AFTER: _window("rcx_refresh", calls=1, status=503),
    Kind.DEAD_REFRESH: _dead_refresh,
    Kind.LOGIN_5XX_BURST: _window("rc_token"),
    Kind.LOGIN_5XX_OUTAGE: _window("rc_token"),
    Kind.LOGIN_429: _window("rc_token", calls=1, status=429),
    Kind.LOGIN_429_BARE: _both(
        _configure(retry_after_header=False), _window("rc_token", _BARE_429, 1)
    ),
    Kind.LOGIN_503_RETRY_AFTER: _window("rc_token", calls=1, status=503),
    Kind.SESSION_QUOTA: _configure(session_quota_429=True, max_rc_sessions=1),
    Kind.EXCHANGE_DENIED: _exchange_denied,
    Kind.EXCHANGE_5XX: _window("rcx_exchange"),
    Kind.EARLY_EXPIRY: _expire,
    Kind.CLOCK_SKEW: _skew,
    Kind.CLOCK_SKEW_TOTAL: _skew,
    Kind.API_5XX: _window("api"),
    Kind.API_401: _window("api", Fault(status=401, body="text")),
    Kind.API_EXPIRED_VARIANT: _both(_configure(expired_message="JWT is expired."), _expire),
    Kind.STORE_THROTTLE: _store_burst(throttle=True),
    Kind.STORE_5XX: _store_burst(throttle=False),
    Kind.STORE_OUTAGE: _store_outage,
    Kind.SLOT_LIMIT: _slot_window(AwsFault.limit_exceeded, ("PutSecretValue",)),
    Kind.SLOT_DENIED: _slot_window(AwsFault.access_denied, SLOT_OPERATIONS),
    Kind.SLOT_MISSING: _slot_window(AwsFault.not_found, SLOT_OPERATIONS),
    Kind.BATCH_DENIED: _batch_denied,
    Kind.SLOT_GARBAGE: _garbage,
    Kind.RECYCLE_REFRESHER: lambda world, _e, _l: world.recycle_refresher(),
    Kind.RECYCLE_PROXY: _recycle_proxy,
    Kind.PENDING_LOSS: _pending_loss,
    Kind.OPERATOR_LOGIN: lambda world, _e, _l: world.operator_exchange(post_rc_token=False),
    Kind.OPERATOR_RC_TOKEN: lambda world, _e, _l: world.operator_exchange(post_rc_token=True),
}

_ENDS: Final[Mapping[Kind, Action]] = {
    Kind.REFRESH_429_BARE: _configure(retry_after_header=True),
    Kind.LOGIN_429_BARE: _configure(retry_after_header=True),
    Kind.SESSION_QUOTA: _configure(session_quota_429=False, max_rc_sessions=5),
    Kind.EXCHANGE_DENIED: _configure(exchange_denied_status=0),
    Kind.CLOCK_SKEW: _configure(clock_skew=0.0),
    Kind.CLOCK_SKEW_TOTAL: _configure(clock_skew=0.0),
    Kind.API_EXPIRED_VARIANT: _configure(expired_message=DEFAULT_EXPIRED_MESSAGE),
    Kind.STORE_OUTAGE: _close_store,
    Kind.SLOT_LIMIT: _close_store,
    Kind.SLOT_DENIED: _close_store,
    Kind.SLOT_MISSING: _close_store,
    Kind.BATCH_DENIED: _close_store,
    Kind.PENDING_LOSS: _end_pending_loss,
}
