"""A small urllib3 client for the simulator, so tests read as protocol steps."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlencode

import urllib3

from ringcx_dev.simulator import SimConfig

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FORM = "application/x-www-form-urlencoded"
RC_TOKEN = "/restapi/oauth/token"
EXCHANGE = "/api/auth/login/rc/accesstoken"
REFRESH = "/api/auth/token/refresh"


class FakeClock:
    """Injected clock: tests move `now` instead of sleeping."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def basic(client_id: str, client_secret: str) -> str:
    """An HTTP Basic Authorization value."""
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def jwt_claims(token: str) -> dict[str, object]:
    """Decode a JWT payload without verifying it, as a client would read `exp`."""
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return decoded


@dataclass
class SimClient:
    """Protocol steps against one simulator over real HTTP."""

    http: urllib3.PoolManager
    base_url: str
    config: SimConfig

    def post_form(
        self, path: str, fields: dict[str, str], headers: dict[str, str] | None = None
    ) -> urllib3.BaseHTTPResponse:
        all_headers = {"Content-Type": FORM, **(headers or {})}
        return self.http.request(
            "POST", self.base_url + path, body=urlencode(fields), headers=all_headers
        )

    def rc_login(self, assertion: str | None = None) -> urllib3.BaseHTTPResponse:
        fields = {"grant_type": JWT_GRANT, "assertion": assertion or self.config.jwt}
        auth = basic(self.config.client_id, self.config.client_secret)
        return self.post_form(RC_TOKEN, fields, {"Authorization": auth})

    def rc_token(self) -> str:
        response = self.rc_login()
        assert response.status == HTTPStatus.OK, response.data
        token: str = response.json()["access_token"]
        return token

    def exchange(self, rc_token: str, include_refresh: bool = True) -> urllib3.BaseHTTPResponse:
        query = "?includeRefresh=true" if include_refresh else ""
        fields = {"rcAccessToken": rc_token, "rcTokenType": "Bearer"}
        return self.post_form(EXCHANGE + query, fields)

    def refresh(self, refresh_token: str) -> urllib3.BaseHTTPResponse:
        return self.post_form(REFRESH, {"refresh_token": refresh_token, "rcTokenType": "Bearer"})

    def login_pair(self) -> tuple[str, str]:
        """RC login then exchange: (RingCX access token, refresh token)."""
        response = self.exchange(self.rc_token())
        assert response.status == HTTPStatus.OK, response.data
        body = response.json()
        return body["accessToken"], body["refreshToken"]

    def api(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base_url + path, body=body, headers=all_headers)

    def control(self, method: str, path: str, body: object = None) -> urllib3.BaseHTTPResponse:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"}
        return self.http.request(method, self.base_url + path, body=data, headers=headers)
