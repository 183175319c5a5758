"""ExchangeFunction: RingCentral login -> RingCX tokens in the ring."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringcx_broker import exchange, runtime

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return exchange.handle(event, runtime.exchanger())
