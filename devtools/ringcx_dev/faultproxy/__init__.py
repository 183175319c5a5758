"""A loopback fault-and-latency proxy for AWS emulators and the RingCX simulator.

Real AWS is not loopback: a Secrets Manager call costs 10-30 ms, a Lambda
Invoke 20-50 ms, a RingCX request about 100 ms. Put a ``FaultProxy`` in
front of moto's server, the local Lambda API or the simulator to add that
latency per operation, to answer with AWS errors in their real wire format
(so botocore parses and retries them exactly as on AWS), to drop
connections, and to count the round trips a code path makes.

    with FaultProxy(moto.url) as proxy:
        proxy.set_latency(0.020)                       # every operation
        proxy.inject("GetSecretValue", AwsFault.throttling())
        boto3.client("secretsmanager", endpoint_url=proxy.url) ...
        proxy.calls("GetSecretValue"), proxy.log()

Another process drives the same proxy through ``/_faultproxy/`` (see
``FaultProxyClient``); ``python -m ringcx_dev.faultproxy TARGET`` runs one.
"""

from __future__ import annotations

from .client import ControlError, FaultControl, FaultProxyClient
from .control import CONTROL_PREFIX
from .faults import AWS_JSON, AwsFault
from .proxy import FaultProxy
from .request import INVOKE, OTHER, Classifier, ProxyRequest, aws_operation, path_group
from .state import DROPPED, CallRecord

__all__ = [
    "AWS_JSON",
    "CONTROL_PREFIX",
    "DROPPED",
    "INVOKE",
    "OTHER",
    "AwsFault",
    "CallRecord",
    "Classifier",
    "ControlError",
    "FaultControl",
    "FaultProxy",
    "FaultProxyClient",
    "ProxyRequest",
    "aws_operation",
    "path_group",
]
