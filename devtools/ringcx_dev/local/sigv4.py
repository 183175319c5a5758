"""``--require-sigv4``: check each request's signature as API Gateway's AWS_IAM auth does.

Why: the deployed API accepts only SigV4-signed requests, so a caller's signing
code is first tested when it meets AWS - unless the local run checks it too.
The signature is recomputed with botocore's ``SigV4Auth`` over the canonical
request built from what actually arrived (method, raw path, raw query, the
headers the caller listed in ``SignedHeaders``, the body), for service
``execute-api`` and the run's region, with the one key pair the run accepts.

The checks and their answers (403, API Gateway's JSON ``{"message": ...}`` and
``x-amzn-ErrorType``), in the order API Gateway applies them:

- no ``Authorization`` header: ``Missing Authentication Token``;
- a header that is not ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
  Signature=...``, or no ``X-Amz-Date``: ``IncompleteSignatureException``
  (the header is never echoed: it may hold a bearer token);
- a credential scope for another service, region or date, or ``host`` not
  signed: ``InvalidSignatureException``;
- an unknown access key, or a session token that is missing or wrong:
  ``The security token included in the request is invalid.``;
- ``X-Amz-Date`` more than 5 minutes away from now: ``Signature expired`` /
  ``Signature not yet current``;
- any other difference (a tampered path, query, header or body, a wrong
  secret): ``The request signature we calculated does not match ...`` with the
  canonical request and string to sign, as AWS shows them (the session token's
  value replaced, so that no credential is printed).

Not emulated: query-string (presigned URL) signing, the ``Date`` header in place
of ``X-Amz-Date``, IAM policies (every verified caller may call every route).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Final

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from ringcx_dev.local.apigw import Caller, HttpRequest, HttpResponse, gateway_error

SERVICE: Final = "execute-api"
ALGORITHM: Final = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS: Final = 300.0  # API Gateway accepts signatures 5 minutes either side
AMZ_DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
# The defaults are the fake keys the local run gives its own processes; they sign nothing real.
DEFAULT_ACCESS_KEY_ID: Final = "testing"
DEFAULT_SECRET_ACCESS_KEY: Final = "testing"
DEFAULT_SESSION_TOKEN: Final = "testing"
_PARAMETER = re.compile(r"^\s*([A-Za-z]+)=(.*?)\s*$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_MISMATCH: Final = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_INVALID_TOKEN: Final = "The security token included in the request is invalid."


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The one key pair a local run accepts (and, if set, the session token it requires)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    # Where it came from, for the banner: "defaults" or the variables' names.
    source: str = "defaults"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SigningKey:
        """The caller's ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (and
        ``AWS_SESSION_TOKEN``) when both are set, else the documented defaults."""
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if key and secret:
            return cls(key, secret, env.get("AWS_SESSION_TOKEN") or None, source="environment")
        return cls(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN)


class SignatureRejected(Exception):
    """The request is not signed as API Gateway requires; ``response`` is the 403."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type

    def response(self, request_id: str) -> HttpResponse:
        return gateway_error(HTTPStatus.FORBIDDEN, self.message, request_id, self.error_type)


def _incomplete(message: str) -> SignatureRejected:
    return SignatureRejected(message, "IncompleteSignatureException")


def _invalid(message: str) -> SignatureRejected:
    return SignatureRejected(message, "InvalidSignatureException")


@dataclass(frozen=True, slots=True)
class _Authorization:
    access_key: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str


class SigV4Verifier:
    """Verifies one request at a time; ``verify`` returns the caller or raises."""

    def __init__(
        self,
        key: SigningKey,
        region: str,
        *,
        account_id: str = "123456789012",
        service: str = SERVICE,
        clock: Callable[[], float] = time.time,
        max_skew: float = MAX_SKEW_SECONDS,
    ) -> None:
        self.key = key
        self.region = region
        self.account_id = account_id
        self.service = service
        self._clock = clock
        self._max_skew = max_skew

    def verify(self, request: HttpRequest) -> Caller:
        header = request.header("authorization")
        if not header:
            raise SignatureRejected(
                "Missing Authentication Token", "MissingAuthenticationTokenException"
            )
        auth = _parse(header)
        amz_date = request.header("x-amz-date")
        if not amz_date:
            raise _incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                "header. (The local run accepts only 'X-Amz-Date'.)"
            )
        self._check_scope(auth, amz_date)
        self._check_key(auth, request)
        self._check_time(amz_date)
        expected, canonical, string_to_sign = self._expected(request, auth, amz_date)
        if not hmac.compare_digest(expected, auth.signature):
            raise _invalid(
                f"{_MISMATCH}\n\nThe Canonical String for this request should have been\n"
                f"'{self._redact(canonical)}'\n\n"
                f"The String-to-Sign should have been\n'{string_to_sign}'\n"
            )
        return Caller(
            access_key=auth.access_key,
            account_id=self.account_id,
            user_arn=f"arn:aws:iam::{self.account_id}:user/local",
            caller=auth.access_key,
        )

    # -- the checks ------------------------------------------------------------

    def _check_scope(self, auth: _Authorization, amz_date: str) -> None:
        if auth.service != self.service:
            raise _invalid(f"Credential should be scoped to correct service: '{self.service}'. ")
        if auth.region != self.region:
            raise _invalid(f"Credential should be scoped to a valid region, not '{auth.region}'. ")
        if auth.terminator != "aws4_request":
            raise _invalid(
                "Credential should be scoped with a valid terminator: 'aws4_request', "
                f"not '{auth.terminator}'. "
            )
        if auth.date != amz_date[:8]:
            raise _invalid(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                f"from HTTP: '{auth.date}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        if "host" not in auth.signed_headers:
            raise _invalid(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
            )

    def _check_key(self, auth: _Authorization, request: HttpRequest) -> None:
        token = request.header("x-amz-security-token")
        if auth.access_key != self.key.access_key_id or (token or None) != self.key.session_token:
            raise SignatureRejected(_INVALID_TOKEN, "UnrecognizedClientException")

    def _check_time(self, amz_date: str) -> None:
        try:
            signed_at = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC).timestamp()
        except ValueError as exc:
            raise _incomplete(
                f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
                "See http://en.wikipedia.org/wiki/ISO_8601"
            ) from exc
        now = self._clock()
        skew = f"{self._max_skew / 60:g} min."
        if signed_at < now - self._max_skew:
            raise _invalid(
                f"Signature expired: {amz_date} is now earlier than "
                f"{_stamp(now - self._max_skew)} ({_stamp(now)} - {skew})"
            )
        if signed_at > now + self._max_skew:
            raise _invalid(
                f"Signature not yet current: {amz_date} is still later than "
                f"{_stamp(now + self._max_skew)} ({_stamp(now)} + {skew})"
            )

    def _expected(
        self, request: HttpRequest, auth: _Authorization, amz_date: str
    ) -> tuple[str, str, str]:
        """botocore's signature for the request as it arrived: (signature, canonical, sts)."""
        host = request.header("host") or f"127.0.0.1:{request.port}"
        query = f"?{request.raw_query}" if request.raw_query else ""
        signed = _SignedAsListed(
            Credentials(self.key.access_key_id, self.key.secret_access_key, self.key.session_token),
            self.service,
            self.region,
            auth.signed_headers,
        )
        received = AWSRequest(
            method=request.method,
            url=f"http://{host}{request.raw_path}{query}",
            data=request.body,
        )
        for name, value in _signed_header_values(request, auth.signed_headers):
            received.headers[name] = value  # HTTPHeaders: assigning again adds a value
        received.context["timestamp"] = amz_date
        canonical = signed.canonical_request(received)
        string_to_sign = signed.string_to_sign(received, canonical)
        return signed.signature(string_to_sign, received), canonical, string_to_sign

    def _redact(self, canonical: str) -> str:
        """The canonical request without the session token's value (a credential)."""
        return "\n".join(
            "x-amz-security-token:<the session token>"
            if line.startswith("x-amz-security-token:")
            else line
            for line in canonical.split("\n")
        )


class _SignedAsListed(SigV4Auth):
    """SigV4Auth that canonicalises exactly the headers the caller signed.

    botocore as a signer skips a few headers (User-Agent, Expect, ...); as a
    verifier we must take the caller's ``SignedHeaders`` as they are.
    """

    def __init__(
        self, credentials: Credentials, service: str, region: str, names: tuple[str, ...]
    ) -> None:
        super().__init__(credentials, service, region)
        self._names = names

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        selected = HTTPHeaders()
        for name, value in request.headers.items():
            if name.lower() in self._names:
                selected[name.lower()] = value
        return selected


def _signed_header_values(request: HttpRequest, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """The request's values of the signed headers, repeats kept, payload hash recomputed.

    A caller-sent ``X-Amz-Content-SHA256`` is replaced by the body's real hash,
    so that a body changed after signing cannot pass with the old hash.
    """
    values = [
        (name.lower(), value)
        for name, value in request.headers
        if name.lower() in names and name.lower() != "x-amz-content-sha256"
    ]
    if "x-amz-content-sha256" in names or request.header("x-amz-content-sha256") is not None:
        values.append(("x-amz-content-sha256", hashlib.sha256(request.body).hexdigest()))
    return values


def _parse(header: str) -> _Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(
            "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with "
            f"SHA-256 and encoded with Base64): '{_fingerprint(header)}'."
        )
    values: dict[str, str] = {}
    for part in rest.split(","):
        match = _PARAMETER.match(part)
        if match is None:
            raise _incomplete(
                "Invalid key=value pair (missing equal-sign) in Authorization header (hashed "
                f"with SHA-256 and encoded with Base64): '{_fingerprint(header)}'."
            )
        values[match.group(1)] = match.group(2)
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not values.get(name)
    ]
    if missing:
        raise _incomplete(" ".join(missing))
    scope = values["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        raise _incomplete(
            f"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/"
            f"service/term, got '{'/'.join(scope[1:])}'"
        )
    signature = values["Signature"].lower()
    if not _SIGNATURE.match(signature):
        raise _invalid(_MISMATCH)
    return _Authorization(
        access_key=scope[0],
        date=scope[1],
        region=scope[2],
        service=scope[3],
        terminator=scope[4],
        signed_headers=tuple(h.strip().lower() for h in values["SignedHeaders"].split(";")),
        signature=signature,
    )


def _fingerprint(header: str) -> str:
    return base64.b64encode(hashlib.sha256(header.encode("utf-8")).digest()).decode("ascii")


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime(AMZ_DATE_FORMAT)


__all__ = [
    "DEFAULT_ACCESS_KEY_ID",
    "DEFAULT_SECRET_ACCESS_KEY",
    "DEFAULT_SESSION_TOKEN",
    "SERVICE",
    "SigV4Verifier",
    "SignatureRejected",
    "SigningKey",
]
