"""RefreshFunction: rotate the RingCX refresh token on schedule and on demand."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringcx_broker import refresher, runtime

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return refresher.handle(event, runtime.refresher(metrics))
