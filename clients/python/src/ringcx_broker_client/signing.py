"""SigV4 for ``execute-api``, done by botocore's own signer.

Why botocore and not our own HMACs: the signature has to match what API
Gateway recomputes byte for byte (path normalisation, query sorting, header
folding, the session token header), and botocore is the implementation AWS
maintains for exactly that. We only choose what goes in: the method, the full
URL, the body, the region and the caller's credentials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

if TYPE_CHECKING:
    from botocore.credentials import ReadOnlyCredentials

SERVICE: Final = "execute-api"
# {api-id}.execute-api.{region}.amazonaws.com, also the VPC endpoint and China forms.
_EXECUTE_API_HOST: Final = re.compile(
    r"^[^.]+\.execute-api\.([a-z0-9-]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$"
)


def region_from_url(url: str) -> str | None:
    """The region an ``execute-api`` URL names, or None (a custom domain, localhost)."""
    match = _EXECUTE_API_HOST.match(urlsplit(url.strip()).hostname or "")
    return match.group(1) if match else None


def signed_headers(
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    credentials: ReadOnlyCredentials,
    region: str,
) -> dict[str, str]:
    """``headers`` plus Authorization, X-Amz-Date (and X-Amz-Security-Token)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


__all__ = ["SERVICE", "region_from_url", "signed_headers"]
