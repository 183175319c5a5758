"""A small typed client for ringcx-broker: SigV4-signed calls, typed errors.

    from ringcx_broker_client import BrokerClient

    broker = BrokerClient.from_stack("ringcx-broker")          # or BrokerClient(api_url)
    accounts = broker.get("/voice/api/v1/admin/accounts")
    status = broker.health()

Command line: ``python -m ringcx_broker_client GET /voice/api/v1/admin/accounts --stack NAME``.
"""

from __future__ import annotations

from ringcx_broker_client.client import USER_AGENT, BrokerClient, Params, Reply, __version__
from ringcx_broker_client.errors import (
    BrokerClientError,
    BrokerError,
    CredentialsExpired,
    CredentialsMissing,
    NotAuthorized,
    NotJson,
    RateLimited,
    RegionMissing,
    RetryableError,
    StackLookupFailed,
    StackNotFound,
    StackOutputMissing,
    Unavailable,
    Unreachable,
)
from ringcx_broker_client.retry import RetryPolicy
from ringcx_broker_client.signing import SERVICE, region_from_url
from ringcx_broker_client.stack import API_URL_OUTPUT, CloudFormationClient, api_url_from_stack

__all__ = [
    "API_URL_OUTPUT",
    "SERVICE",
    "USER_AGENT",
    "BrokerClient",
    "BrokerClientError",
    "BrokerError",
    "CloudFormationClient",
    "CredentialsExpired",
    "CredentialsMissing",
    "NotAuthorized",
    "NotJson",
    "Params",
    "RateLimited",
    "RegionMissing",
    "Reply",
    "RetryPolicy",
    "RetryableError",
    "StackLookupFailed",
    "StackNotFound",
    "StackOutputMissing",
    "Unavailable",
    "Unreachable",
    "__version__",
    "api_url_from_stack",
    "region_from_url",
]
