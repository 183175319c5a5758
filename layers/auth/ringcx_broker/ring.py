"""The token ring: K Secrets Manager secrets, generation g in slot g mod K.

Why a ring: AWS advises at most one PutSecretValue per secret every ~10 min,
and versions younger than 24 h are never pruned. Rotating every P seconds
into K secrets writes each secret every K*P seconds (README, "Ring size").

Why ``ClientRequestToken`` = f(g, slot version it replaces): Secrets Manager treats a repeated token
with the same value as a no-op and with a different value as
``ResourceExistsException``. So a retried write of one generation is
idempotent, and two writers of the same generation collide instead of one
silently overwriting the other's refresh token.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ringcx_broker.errors import ConfigurationError, RingWriteConflict, SecretStoreUnavailable
from ringcx_broker.secret_store import SecretMissing, error_code, read_secret
from ringcx_broker.timing import Sleep
from ringcx_broker.tokens import MalformedSlot, StoredToken

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = Logger(child=True)

_CRT_NAMESPACE = uuid.UUID("6f1c3c1e-4b8e-4d43-9a57-3f4d1f0a9e21")
_TRANSIENT = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
    }
)


def request_token(generation: int, replaces: str) -> str:
    """The ``ClientRequestToken`` for writing ``generation`` over the slot
    version ``replaces``: 36 characters, the same for every writer of that
    generation that read the same slot state, so racing writers collide.

    Including the version it replaces keeps the token fresh when a slot is
    repaired (a corrupt or hand-edited value), where a token derived from the
    generation alone could clash with a version from before the repair.
    """
    return str(uuid.uuid5(_CRT_NAMESPACE, f"ringcx-broker/{generation}/{replaces}"))


class TokenRing:
    def __init__(
        self,
        client: SecretsManagerClient,
        slot_ids: Sequence[str],
        sleep: Sleep = time.sleep,
        write_attempts: int = 4,
        backoff_base: float = 0.2,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not slot_ids:
            raise ConfigurationError("TOKEN_SECRET_IDS is empty: the token ring needs secrets")
        self._client = client
        self._slots = tuple(slot_ids)
        self._sleep = sleep
        self._write_attempts = max(1, write_attempts)
        self._backoff_base = backoff_base
        self._jitter = jitter

    @property
    def size(self) -> int:
        return len(self._slots)

    def slot_of(self, generation: int) -> str:
        return self._slots[generation % len(self._slots)]

    # -- reading -------------------------------------------------------------

    def read_slot(self, slot_id: str) -> StoredToken | None:
        """One GetSecretValue. Empty (``{}``) and corrupt slots read as None."""
        return self._read(slot_id)[0]

    def _read(self, slot_id: str) -> tuple[StoredToken | None, str]:
        text, version = self._get(slot_id)
        try:
            return StoredToken.from_secret_string(text), version
        except MalformedSlot as exc:
            logger.warning(
                "Skipping corrupt token slot", extra={"slot": slot_id, "reason": str(exc)}
            )
            return None, version

    def newest(self) -> StoredToken | None:
        """Read every slot and return the highest generation (cold start path)."""
        best: StoredToken | None = None
        for slot_id in self._slots:
            token = self.read_slot(slot_id)
            if (
                token is not None
                and self._owns(slot_id, token)
                and (best is None or token.generation > best.generation)
            ):
                best = token
        return best

    def newer_than(
        self, known: StoredToken, enough: Callable[[StoredToken], bool] | None = None
    ) -> StoredToken:
        """Walk forward from a known generation: usually one read.

        Reads slot (g+1) mod K; if it holds g+1, that is newer, and we go on
        to g+2 unless ``enough`` says the token found is all we need.
        """
        best = known
        for _ in range(self.size):
            slot_id = self.slot_of(best.generation + 1)
            candidate = self.read_slot(slot_id)
            if (
                candidate is None
                or candidate.generation <= best.generation
                or not self._owns(slot_id, candidate)
            ):
                return best
            best = candidate
            if enough is not None and enough(best):
                return best
        return best

    def latest(self, known: StoredToken | None) -> StoredToken | None:
        return self.newest() if known is None else self.newer_than(known)

    def _owns(self, slot_id: str, token: StoredToken) -> bool:
        if self.slot_of(token.generation) == slot_id:
            return True
        logger.warning(
            "Skipping token in the wrong slot",
            extra={"slot": slot_id, "generation": token.generation},
        )
        return False

    # -- writing -------------------------------------------------------------

    def write(self, token: StoredToken) -> None:
        """Durably store one generation, or raise.

        ``RingWriteConflict``: another writer stored this generation first, or
        the slot already holds a newer one (a stale writer). The caller must
        re-read the ring. ``SecretStoreUnavailable``: retries ran out.
        """
        slot_id = self.slot_of(token.generation)
        payload = token.to_secret_string()
        current, version = self._read(slot_id)
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
                if code not in _TRANSIENT or attempt + 1 == self._write_attempts:
                    raise SecretStoreUnavailable(
                        f"could not write token generation {token.generation} ({code})"
                    ) from exc
            except BotoCoreError as exc:
                if attempt + 1 == self._write_attempts:
                    raise SecretStoreUnavailable(
                        f"could not write token generation {token.generation} "
                        f"({type(exc).__name__})"
                    ) from exc
            self._backoff(attempt)

    def _backoff(self, attempt: int) -> None:
        self._sleep(self._backoff_base * (2**attempt) * (0.5 + self._jitter()))

    def _get(self, slot_id: str) -> tuple[str, str]:
        try:
            value = read_secret(self._client, slot_id, "token ring secret")
        except SecretMissing as exc:
            raise ConfigurationError(
                f"token ring secret {slot_id} does not exist or has no value"
            ) from exc
        return value.text or "{}", value.version_id
