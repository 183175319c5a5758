"""The full login chain: stored JWT -> RingCentral token -> RingCX tokens."""

from __future__ import annotations

from ringcx_broker.credentials import SecretCredentials
from ringcx_broker.ringcentral import RingCentralClient
from ringcx_broker.ringcx import RingCXClient
from ringcx_broker.tokens import TokenGrant


class JwtLogin:
    def __init__(
        self, credentials: SecretCredentials, ringcentral: RingCentralClient, ringcx: RingCXClient
    ) -> None:
        self._credentials = credentials
        self._ringcentral = ringcentral
        self._ringcx = ringcx

    def login(self) -> TokenGrant:
        credentials = self._credentials.load()
        rc_token = self._ringcentral.login_jwt(credentials)
        return self._ringcx.exchange(rc_token)
