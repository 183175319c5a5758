"""ProxyFunction: IAM-protected /voice/api proxy, /health and /token."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringcx_broker import snapstart
from ringcx_broker.proxy import app as proxy

logger = Logger()
snapstart.install()  # SnapStart hooks; primes imports only in a SnapStart init


@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return proxy.handle(event, context)
