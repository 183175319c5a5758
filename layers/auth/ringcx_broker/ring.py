"""The token ring: K Secrets Manager secrets, generation g in slot g mod K.

Why a ring: AWS advises at most one PutSecretValue per secret every ~10 min,
and versions younger than 24 h are never pruned. Rotating every P seconds
into K secrets writes each secret only every K*P seconds (docs/design.md,
"The token ring").

Why ``ClientRequestToken`` = f(g, slot version it replaces): Secrets Manager
treats a repeated token with the same value as a no-op and with a different
value as ``ResourceExistsException``. So a retried write of one generation is
idempotent, and two writers of the same generation collide instead of one
silently overwriting the other's refresh token.

Reading: one ``BatchGetSecretValue`` returns every slot in one round trip
(IAM still checks ``GetSecretValue`` on each slot, so it grants nothing
beyond the ring). Where the batch call is denied or not offered, every slot
is read on its own, in parallel: still one round trip of latency. A reader
always sees the whole ring, so a generation stored past a skipped slot is
never hidden.

A slot that is gone (deleted, denied, or over its versions quota) is skipped:
readers take the newest generation they can read, and a writer stores the
token as the next generation in the next slot. The ring degrades by one slot
instead of stopping the chain.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ringcx_broker.errors import ConfigurationError, RingWriteConflict, SecretStoreUnavailable
from ringcx_broker.secret_store import (
    DENIED_CODES,
    MISSING_CODES,
    TRANSIENT_CODES,
    UNSUPPORTED_CODES,
    SecretDenied,
    SecretMissing,
    SecretValue,
    batch_read,
    error_code,
    read_secret,
)
from ringcx_broker.timing import Sleep
from ringcx_broker.tokens import MalformedSlot, StoredToken

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = Logger(child=True)

_CRT_NAMESPACE = uuid.UUID("6f1c3c1e-4b8e-4d43-9a57-3f4d1f0a9e21")
# A put that fails with one of these will fail again: the slot is unusable.
_SLOT_GONE_CODES = MISSING_CODES | DENIED_CODES | {"LimitExceededException"}
WHAT = "token ring secret"


class SlotUnwritable(SecretStoreUnavailable):
    """This slot cannot take a write (missing, denied, versions quota full)."""


def request_token(generation: int, replaces: str) -> str:
    """The ``ClientRequestToken`` for writing ``generation`` over the slot
    version ``replaces``: 36 characters, the same for every writer of that
    generation that read the same slot state, so racing writers collide.

    Including the version it replaces keeps the token fresh when a slot is
    repaired (a corrupt or hand-edited value), where a token derived from the
    generation alone could clash with a version from before the repair.
    """
    return str(uuid.uuid5(_CRT_NAMESPACE, f"ringcx-broker/{generation}/{replaces}"))


@dataclass(frozen=True, slots=True)
class RingSnapshot:
    """What one read of the whole ring found."""

    tokens: tuple[StoredToken, ...]  # valid tokens, each in its own slot
    gone: tuple[str, ...] = ()  # slots skipped for good: missing or denied
    corrupt: tuple[str, ...] = ()  # slots holding something that is not a token

    @property
    def newest(self) -> StoredToken | None:
        return max(self.tokens, key=lambda t: t.generation, default=None)


class TokenRing:
    def __init__(
        self,
        client: SecretsManagerClient,
        slot_ids: Sequence[str],
        sleep: Sleep = time.sleep,
        write_attempts: int = 4,
        backoff_base: float = 0.2,
        jitter: Callable[[], float] = random.random,
        batch: bool = True,
    ) -> None:
        if not slot_ids:
            raise ConfigurationError("TOKEN_SECRET_IDS is empty: the token ring needs secrets")
        self._client = client
        self._slots = tuple(slot_ids)
        self._sleep = sleep
        self._write_attempts = max(1, write_attempts)
        self._backoff_base = backoff_base
        self._jitter = jitter
        self._batch = batch
        self._pool: ThreadPoolExecutor | None = None
        self._unreadable: frozenset[str] = frozenset()  # as of the last whole-ring read

    @property
    def size(self) -> int:
        return len(self._slots)

    @property
    def slot_ids(self) -> tuple[str, ...]:
        return self._slots

    def slot_of(self, generation: int) -> str:
        return self._slots[generation % len(self._slots)]

    # -- reading -------------------------------------------------------------

    def snapshot(self) -> RingSnapshot:
        """Every slot in one round trip (parallel single reads without batch).

        Raises ``SecretStoreUnavailable`` if any slot could not be read for a
        reason that may pass (a throttle, a 5xx): a partial view could hide
        the newest generation, and a writer acting on it would spend a dead
        refresh token. ``ConfigurationError`` if no slot exists at all.
        """
        values = self._read_batch() if self._batch else None
        if values is None:
            values = self._read_each()
        tokens: list[StoredToken] = []
        gone: list[str] = []
        corrupt: list[str] = []
        for slot_id in self._slots:
            value = values[slot_id]
            if isinstance(value, SecretValue):
                token = self._parse(slot_id, value.text)
                if token is not None:
                    tokens.append(token)
                elif (value.text or "{}").strip() != "{}":
                    corrupt.append(slot_id)
            elif isinstance(value, SecretStoreUnavailable):
                raise value
            else:
                self._warn_gone(slot_id, type(value).__name__)
                gone.append(slot_id)
        if len(gone) == len(self._slots):
            raise ConfigurationError(
                f"no {WHAT} is readable (missing or access denied): check TOKEN_SECRET_IDS "
                "and the function's IAM policy"
            )
        self._unreadable = frozenset(gone) | frozenset(corrupt)
        return RingSnapshot(tuple(tokens), tuple(gone), tuple(corrupt))

    def lost(self, token: StoredToken) -> bool:
        """Whether ``token``'s slot could not be read (or held garbage) at the
        last whole-ring read: readers cannot see it, though a writer may still
        hold it in memory."""
        return self.slot_of(token.generation) in self._unreadable

    def newest(self) -> StoredToken | None:
        """The highest generation in the ring: one round trip."""
        return self.snapshot().newest

    def newer_than(self, known: StoredToken) -> StoredToken:
        """The newest generation if it is newer than ``known``, else ``known``.

        Always the whole ring, in one round trip (a batch read, or parallel
        single reads): walking forward slot by slot would stop at a slot a
        writer skipped, and never see the generation stored past it.
        """
        newest = self.snapshot().newest
        return newest if newest is not None and newest.generation > known.generation else known

    def latest(self, known: StoredToken | None) -> StoredToken | None:
        return self.newest() if known is None else self.newer_than(known)

    def read_slot(self, slot_id: str) -> StoredToken | None:
        """One GetSecretValue. Empty (``{}``), corrupt and gone slots read as None."""
        try:
            value = read_secret(self._client, slot_id, WHAT)
        except (SecretMissing, SecretDenied) as exc:
            self._warn_gone(slot_id, type(exc).__name__)
            return None
        return self._parse(slot_id, value.text)

    def _read_batch(self) -> dict[str, SecretValue | Exception] | None:
        """None when this endpoint or policy offers no batch read: fall back for good."""
        try:
            result = batch_read(self._client, self._slots)
        except ClientError as exc:
            code = error_code(exc)
            if code in DENIED_CODES | UNSUPPORTED_CODES:
                logger.info(
                    "BatchGetSecretValue unavailable; reading slots one by one",
                    extra={"reason": code},
                )
                self._batch = False
                return None
            raise SecretStoreUnavailable(f"could not read the token ring ({code})") from exc
        except BotoCoreError as exc:
            raise SecretStoreUnavailable(
                f"could not read the token ring ({type(exc).__name__})"
            ) from exc
        values: dict[str, SecretValue | Exception] = dict(result.values)
        for slot_id, code in result.failures.items():
            values[slot_id] = self._single(slot_id) if code in TRANSIENT_CODES else _gone(code)
        return values

    def _read_each(self) -> dict[str, SecretValue | Exception]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="ring")
        return dict(zip(self._slots, self._pool.map(self._single, self._slots), strict=True))

    def _single(self, slot_id: str) -> SecretValue | Exception:
        try:
            return read_secret(self._client, slot_id, WHAT)
        except (SecretMissing, SecretDenied, SecretStoreUnavailable) as exc:
            return exc

    def _parse(self, slot_id: str, text: str) -> StoredToken | None:
        try:
            token = StoredToken.from_secret_string(text or "{}")
        except MalformedSlot as exc:
            logger.warning(
                "Skipping corrupt token slot", extra={"slot": slot_id, "reason": str(exc)}
            )
            return None
        if token is None or self.slot_of(token.generation) == slot_id:
            return token
        logger.warning(
            "Skipping token in the wrong slot",
            extra={"slot": slot_id, "generation": token.generation},
        )
        return None

    def _warn_gone(self, slot_id: str, reason: str) -> None:
        logger.warning("Skipping unreadable token slot", extra={"slot": slot_id, "reason": reason})

    # -- writing -------------------------------------------------------------

    def store(self, token: StoredToken) -> StoredToken:
        """Write ``token``; if its slot cannot take writes, store it as the
        next generation in the next slot. Returns the token as stored.

        Raises ``RingWriteConflict`` or ``SecretStoreUnavailable`` like ``write``.
        """
        for skip in range(self.size):
            candidate = replace(token, generation=token.generation + skip)
            try:
                self.write(candidate)
            except SlotUnwritable as exc:
                logger.error(
                    "Token slot cannot be written; storing in the next slot",
                    extra={"slot": self.slot_of(candidate.generation), "reason": exc.message},
                )
                continue
            return candidate
        raise SecretStoreUnavailable(f"no {WHAT} can be written: check the ring's secrets")

    def write(self, token: StoredToken) -> None:
        """Durably store one generation in its slot, or raise.

        ``RingWriteConflict``: another writer stored this generation first, or
        the slot already holds a newer one (a stale writer). The caller must
        re-read the ring. ``SlotUnwritable``: this slot is gone or full.
        ``SecretStoreUnavailable``: retries ran out.
        """
        slot_id = self.slot_of(token.generation)
        payload = token.to_secret_string()
        current, version = self._current(slot_id)
        if current is not None and current.to_secret_string() == payload:
            return  # an earlier attempt of ours landed; writing again is a no-op
        if current is not None and current.generation >= token.generation:
            raise RingWriteConflict(
                f"generation {token.generation} is stale: slot holds {current.generation}"
            )
        for attempt in range(self._write_attempts):
            try:
                self._client.put_secret_value(
                    SecretId=slot_id,
                    SecretString=payload,
                    ClientRequestToken=request_token(token.generation, version),
                )
                return
            except ClientError as exc:
                code = error_code(exc)
                if code == "ResourceExistsException":
                    raise RingWriteConflict(
                        f"generation {token.generation} was already written by another writer"
                    ) from exc
                failure = f"could not write token generation {token.generation} ({code})"
                if code in _SLOT_GONE_CODES:
                    raise SlotUnwritable(failure) from exc
                if code not in TRANSIENT_CODES or attempt + 1 == self._write_attempts:
                    raise SecretStoreUnavailable(failure) from exc
            except BotoCoreError as exc:
                if attempt + 1 == self._write_attempts:
                    raise SecretStoreUnavailable(
                        f"could not write token generation {token.generation} "
                        f"({type(exc).__name__})"
                    ) from exc
            self._backoff(attempt)

    def _current(self, slot_id: str) -> tuple[StoredToken | None, str]:
        try:
            value = read_secret(self._client, slot_id, WHAT)
        except (SecretMissing, SecretDenied) as exc:
            raise SlotUnwritable(f"{WHAT} {slot_id} cannot be read ({type(exc).__name__})") from exc
        try:
            return StoredToken.from_secret_string(value.text or "{}"), value.version_id
        except MalformedSlot:
            return None, value.version_id  # a corrupt slot is simply overwritten

    def _backoff(self, attempt: int) -> None:
        self._sleep(self._backoff_base * (2**attempt) * (0.5 + self._jitter()))


def _gone(code: str) -> Exception:
    return SecretDenied(code) if code in DENIED_CODES else SecretMissing(code)
