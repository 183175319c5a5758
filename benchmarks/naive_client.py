"""The alternative the broker replaces: every service container does its own
RingCX auth, the way RingCentral's ``engage-voice-python`` client does.

Modelled on ``RingCentralEngageVoice`` (ringcentral/engage-voice-python):

- ``authorize``: a RingCentral JWT login, then the RingCX exchange with
  ``includeRefresh=true`` - once per container, at its first request;
- on an error reply whose body says "expired", ``refresh()`` with the stored
  refresh token, then retry the request once;
- any other failure raises to the caller: no ``Retry-After`` memory, no
  backoff, no coordination with other containers.

One generosity over the SDK, so the comparison is not rigged: if the refresh
token is rejected outright (a non-429 4xx), the container drops its token and
logs in again on its next request instead of failing forever.

The credentials come from one Secrets Manager read at cold start, as a
service that keeps them there would. urllib3 only, like the broker.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import urllib3

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


class NaiveAuthFailed(Exception):
    """An auth call failed; the request that needed it fails with it."""

    def __init__(self, step: str, status: int) -> None:
        super().__init__(f"{step} failed with HTTP {status}")
        self.step = step
        self.status = status


@dataclass(frozen=True, slots=True)
class NaiveCredentials:
    client_id: str
    client_secret: str = field(repr=False)
    jwt: str = field(repr=False)

    @classmethod
    def from_secret(cls, client: SecretsManagerClient, secret_id: str) -> NaiveCredentials:
        data = json.loads(client.get_secret_value(SecretId=secret_id)["SecretString"])
        return cls(data["client_id"], data["client_secret"], data["jwt"])


class NaiveClient:
    """One container's own RingCX session."""

    def __init__(
        self,
        ringcx_url: str,
        ringcentral_url: str,
        credentials: NaiveCredentials,
        pool: urllib3.PoolManager,
    ) -> None:
        self._rcx = ringcx_url.rstrip("/")
        self._rc = ringcentral_url.rstrip("/")
        self._credentials = credentials
        self._pool = pool
        self._token: dict[str, Any] | None = None

    def get(self, path: str) -> int:
        """GET ``path`` (``/voice/api/...``); returns the final HTTP status.

        Raises ``NaiveAuthFailed`` when the login or the refresh it needed failed.
        """
        if self._token is None:
            self.authorize()
        reply = self._api(path)
        if reply.status >= HTTPStatus.BAD_REQUEST and b"expired" in reply.data:
            self.refresh()
            reply = self._api(path)
        return reply.status

    def authorize(self) -> None:
        """RingCentral JWT login, then the RingCX exchange."""
        basic = base64.b64encode(
            f"{self._credentials.client_id}:{self._credentials.client_secret}".encode()
        ).decode()
        rc = self._post(
            "login",
            f"{self._rc}/restapi/oauth/token",
            {"grant_type": JWT_GRANT, "assertion": self._credentials.jwt},
            {"Authorization": f"Basic {basic}"},
        )
        self._token = self._post(
            "exchange",
            f"{self._rcx}/api/auth/login/rc/accesstoken?includeRefresh=true",
            {"rcAccessToken": rc["access_token"], "rcTokenType": "Bearer"},
        )

    def refresh(self) -> None:
        """Spend the refresh token for a new pair (the SDK's ``refresh()``)."""
        assert self._token is not None
        try:
            self._token = self._post(
                "refresh",
                f"{self._rcx}/api/auth/token/refresh",
                {"refresh_token": self._token["refreshToken"], "rcTokenType": "Bearer"},
            )
        except NaiveAuthFailed as exc:
            if exc.status != HTTPStatus.TOO_MANY_REQUESTS:
                self._token = None  # dead chain: log in again next time
            raise

    def _api(self, path: str) -> urllib3.BaseHTTPResponse:
        assert self._token is not None
        return self._pool.request(
            "GET",
            f"{self._rcx}{path}",
            headers={"Authorization": f"Bearer {self._token['accessToken']}"},
            retries=False,
        )

    def _post(
        self, step: str, url: str, fields: dict[str, str], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        reply = self._pool.request(
            "POST", url, body=urlencode(fields), headers={**FORM, **(headers or {})}, retries=False
        )
        if reply.status != HTTPStatus.OK:
            raise NaiveAuthFailed(step, reply.status)
        body: dict[str, Any] = json.loads(reply.data)
        return body
