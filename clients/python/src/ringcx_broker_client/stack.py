"""The broker's URL from its CloudFormation stack's ``ApiUrl`` output.

Why from the stack: the API id changes when the stack is re-created, the
stack name does not; a caller configured with the name keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from ringcx_broker_client.errors import StackLookupFailed, StackNotFound, StackOutputMissing

API_URL_OUTPUT: Final = "ApiUrl"


class CloudFormationClient(Protocol):
    """The one call we need; boto3's ``cloudformation`` client satisfies it."""

    def describe_stacks(self, *, StackName: str) -> Mapping[str, Any]: ...


def api_url_from_stack(cloudformation: CloudFormationClient, stack_name: str) -> str:
    """The stack's ``ApiUrl`` output; ``StackNotFound`` / ``StackOutputMissing`` otherwise."""
    try:
        answer = cloudformation.describe_stacks(StackName=stack_name)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        # describe_stacks answers ValidationError for a name it does not know.
        if error.get("Code") == "ValidationError":
            raise StackNotFound(
                f"no CloudFormation stack named {stack_name!r} in this account and region "
                "(check --stack and --region)"
            ) from exc
        raise StackLookupFailed(
            f"cannot describe stack {stack_name!r}: {error.get('Code', 'error')}: "
            f"{error.get('Message', exc)}"
        ) from exc
    except BotoCoreError as exc:
        raise StackLookupFailed(f"cannot describe stack {stack_name!r}: {exc}") from exc
    stacks = answer.get("Stacks") or []
    if not stacks:
        raise StackNotFound(f"no CloudFormation stack named {stack_name!r}")
    outputs = stacks[0].get("Outputs") or []
    for output in outputs:
        if output.get("OutputKey") == API_URL_OUTPUT and output.get("OutputValue"):
            return str(output["OutputValue"])
    present = ", ".join(str(o.get("OutputKey")) for o in outputs) or "none"
    raise StackOutputMissing(
        f"stack {stack_name!r} has no {API_URL_OUTPUT} output (its outputs: {present}); "
        "is it a ringcx-broker stack, and has its deployment finished?"
    )


__all__ = ["API_URL_OUTPUT", "CloudFormationClient", "api_url_from_stack"]
