"""The cold-start baseline: the proxy's cold-start I/O with bare boto3 and
urllib3, and nothing else.

Why it exists: the broker's cold start is budgeted at 1.15x of a minimal
handler that does "the same I/O with bare boto3 and urllib3". The minimal
correct way to find the newest token in the ring is one round trip: one
``BatchGetSecretValue`` with the ring's ``SecretIdList``, then take the
highest generation and GET the upstream with its bearer token. So this
handler does exactly that and skips everything that is the broker's own
cost: Powertools, the resolver, path and header validation, the token
model, logging, and any fallback when the batch call fails.

It runs in the same fresh ``python3.13 -I -S`` process, with the same
environment, as the built ProxyFunction. Only the standard library, boto3 and
urllib3 may be imported here.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import urllib3

_secrets: Any = None
_pool: urllib3.PoolManager | None = None


def _clients() -> tuple[Any, urllib3.PoolManager]:
    global _secrets, _pool
    if _secrets is None or _pool is None:
        _secrets = boto3.client("secretsmanager")
        _pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=3.05, read=20))
    return _secrets, _pool


def _newest_access_token(secrets: Any) -> str:
    ring = os.environ["TOKEN_SECRET_IDS"].split(",")
    reply = secrets.batch_get_secret_value(SecretIdList=ring)
    best: dict[str, Any] = {}
    for value in reply["SecretValues"]:
        slot = json.loads(value["SecretString"])
        if slot and slot.get("generation", 0) > best.get("generation", 0):
            best = slot
    return str(best["accessToken"])


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    secrets, pool = _clients()
    token = _newest_access_token(secrets)
    url = os.environ["RINGCX_SERVER_URL"].rstrip("/") + event["path"]
    reply = pool.request("GET", url, headers={"Authorization": f"Bearer {token}"})
    return {
        "statusCode": reply.status,
        "headers": {"Content-Type": reply.headers.get("Content-Type", "application/json")},
        "body": reply.data.decode("utf-8"),
        "isBase64Encoded": False,
    }
