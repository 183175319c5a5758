"""One request as the proxy received it, and the names it is counted under.

The proxy counts, delays and faults requests by a name (an AWS operation
such as ``GetSecretValue``, or a simulator path group such as ``rc_token``).
Both classifiers read only the request line, the headers and the body, so
the same proxy serves moto, the local Lambda API and the simulator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ringcx_dev.simulator.messages import SimRequest
from ringcx_dev.simulator.routing import CONTROL, classify

OTHER: Final = "other"
"""The name of a request no classifier recognises."""

INVOKE: Final = "Invoke"

# Lambda speaks REST-JSON: the operation is in the path, not in X-Amz-Target.
_LAMBDA_INVOKE: Final = re.compile(r"^/2015-03-31/functions/[^/]+/invocations/?$")


@dataclass(frozen=True, slots=True)
class ProxyRequest(SimRequest):
    """A request exactly as received: path and query still percent-encoded.

    The simulator's request value (``from_target``, ``header``), plus what the
    proxy needs to forward it and to match faults to the secrets it names.
    """

    @classmethod
    def from_target(
        cls, method: str, target: str, headers: tuple[tuple[str, str], ...], body: bytes
    ) -> ProxyRequest:
        """Split the request target into raw path and raw query, decoding neither."""
        parsed = SimRequest.from_target(method, target, headers, body)
        return cls(parsed.method, parsed.raw_path, parsed.raw_query, parsed.headers, parsed.body)

    @property
    def target(self) -> str:
        """The request target to send upstream: path, then ``?query`` if any."""
        return f"{self.raw_path}?{self.raw_query}" if self.raw_query else self.raw_path

    def json_object(self) -> dict[str, object] | None:
        """The body as a JSON object, or None when it is not one (never raises)."""
        try:
            value = json.loads(self.body) if self.body else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return value if isinstance(value, dict) else None

    def secret_ids(self) -> tuple[str, ...]:
        """The secrets a Secrets Manager call names: ``SecretId`` or ``SecretIdList``."""
        body = self.json_object() or {}
        single, many = body.get("SecretId"), body.get("SecretIdList")
        if isinstance(single, str):
            return (single,)
        if isinstance(many, list):
            return tuple(item for item in many if isinstance(item, str))
        return ()

    @property
    def is_batch(self) -> bool:
        """Whether the call names a list of secrets (``BatchGetSecretValue``)."""
        return isinstance((self.json_object() or {}).get("SecretIdList"), list)


Classifier = Callable[[ProxyRequest], str]


def aws_operation(request: ProxyRequest) -> str:
    """The AWS operation: ``X-Amz-Target`` for JSON-protocol services
    (``secretsmanager.GetSecretValue`` -> ``GetSecretValue``), the path for
    Lambda's ``Invoke``, else ``"other"``."""
    target = request.header("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    if request.method == "POST" and _LAMBDA_INVOKE.match(request.raw_path):
        return INVOKE
    return OTHER


def path_group(request: ProxyRequest) -> str:
    """The simulator's endpoint group: ``rc_token``, ``rcx_exchange``,
    ``rcx_refresh``, ``api`` (``/voice/api/...``), else ``"other"``."""
    group = classify(request.raw_path)
    return OTHER if group is None or group == CONTROL else group
