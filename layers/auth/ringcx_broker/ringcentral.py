"""RingCentral platform client: the JWT-bearer login (docs/design.md, "The problem")."""

from __future__ import annotations

import base64

import urllib3

from ringcx_broker.credentials import Credentials
from ringcx_broker.errors import CredentialsRejected, RateLimited
from ringcx_broker.http import UpstreamRejected, post_form, shared_pool
from ringcx_broker.ratelimit import RateGate

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SERVICE = "RingCentral"


class RingCentralClient:
    def __init__(
        self,
        server_url: str,
        pool: urllib3.PoolManager | None = None,
        gate: RateGate | None = None,
    ) -> None:
        self._url = server_url.rstrip("/") + "/restapi/oauth/token"
        self._pool = pool or shared_pool()
        self._gate = gate or RateGate()

    def login_jwt(self, credentials: Credentials) -> str:
        """Return a RingCentral access token for the stored JWT."""
        self._gate.check("rc_token", SERVICE)
        basic = base64.b64encode(
            f"{credentials.client_id}:{credentials.client_secret}".encode()
        ).decode()
        try:
            reply = post_form(
                self._pool,
                self._url,
                {"grant_type": JWT_GRANT, "assertion": credentials.jwt},
                SERVICE,
                headers={"Authorization": f"Basic {basic}"},
            )
        except RateLimited as exc:
            self._gate.penalise("rc_token", exc.retry_after)
            raise
        except UpstreamRejected as exc:
            raise CredentialsRejected(
                f"RingCentral rejected the stored credentials (HTTP {exc.rejection.status} "
                f"{exc.rejection.code}): check client_id, client_secret and jwt"
            ) from exc
        token = reply.get("access_token")
        if not isinstance(token, str) or not token:
            raise CredentialsRejected("RingCentral login replied without an access_token")
        return token
