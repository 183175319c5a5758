"""``python -m ringcx_broker_client``: one signed call from a shell, JSON out.

Why a CLI in a library: the first thing a team does with the broker is try
one call from a terminal with its own AWS identity; the exit status tells a
script what kind of failure it was without parsing text.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final, TextIO
from urllib.parse import unquote_plus

from ringcx_broker_client.client import DEFAULT_TIMEOUT, BrokerClient
from ringcx_broker_client.errors import (
    BrokerClientError,
    BrokerError,
    CredentialsExpired,
    CredentialsMissing,
    NotAuthorized,
    RegionMissing,
    RetryableError,
    StackLookupFailed,
    Unreachable,
)
from ringcx_broker_client.retry import RetryPolicy

EXIT_OK: Final = 0
EXIT_BROKER_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_NOT_AUTHORIZED: Final = 3
EXIT_TRY_LATER: Final = 4
EXIT_SETUP: Final = 5
EXIT_UNREACHABLE: Final = 6
URL_VARIABLE: Final = "RINGCX_BROKER_URL"
STACK_VARIABLE: Final = "RINGCX_BROKER_STACK"
METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

EPILOG = f"""\
examples:
  %(prog)s GET /voice/api/v1/admin/accounts --stack ringcx-broker
  %(prog)s GET '/voice/api/v1/admin/accounts?limit=5' --url https://ID.execute-api.REGION.amazonaws.com/v1
  %(prog)s POST /auth/exchange --stack ringcx-broker
  %(prog)s health --url http://127.0.0.1:3000 --region us-east-1

The URL comes from --url (or ${URL_VARIABLE}) or the stack's ApiUrl output (--stack or
${STACK_VARIABLE}). Credentials come from the normal AWS chain (--profile, AWS_PROFILE,
AWS_ACCESS_KEY_ID/..., SSO, an instance role).

exit status:
  {EXIT_OK}  success; the JSON answer is on stdout
  {EXIT_BROKER_ERROR}  the broker answered an error (400, 404, 405, 5xx ...) or a non-JSON body
  {EXIT_USAGE}  bad command line
  {EXIT_NOT_AUTHORIZED}  403: unsigned, badly signed, or your IAM identity may not call this route
  {EXIT_TRY_LATER}  429 or 503, still after the retries (--max-attempts, --max-wait)
  {EXIT_SETUP}  no or expired AWS credentials, no region, stack or ApiUrl output not found
  {EXIT_UNREACHABLE}  no HTTP answer (DNS, connection refused, timeout)
"""


class _Usage(Exception):
    """A command line that parses but cannot run; the message says why."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ringcx_broker_client",
        description="Call ringcx-broker's REST API with a SigV4-signed request; print the JSON.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", help=f"health, or an HTTP method ({', '.join(METHODS)})")
    parser.add_argument("path", nargs="?", help="the path, e.g. /voice/api/v1/admin/accounts")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help=f"the broker's ApiUrl (env {URL_VARIABLE})")
    where.add_argument("--stack", help=f"read ApiUrl from this stack (env {STACK_VARIABLE})")
    parser.add_argument("--region", help="AWS region (default: from the URL, else AWS_REGION)")
    parser.add_argument("--profile", help="AWS profile (default: the normal credential chain)")
    parser.add_argument("--data", help="JSON request body (for POST/PUT/PATCH)")
    parser.add_argument(
        "-q",
        "--query",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="query parameter (repeatable); a ?query in PATH works too",
    )
    parser.add_argument(
        "--max-attempts", type=int, default=3, help="requests in all for 429/503 (3)"
    )
    parser.add_argument(
        "--max-wait", type=float, default=30.0, help="seconds of Retry-After waiting at most (30)"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per request (35)"
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    environment = os.environ if env is None else env
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        method, path, params, body = _call(args)
        client = _client(args, environment)
        result = client.request(method, path, params=params or None, json=body)
    except _Usage as exc:
        parser.print_usage(err)
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    except BrokerClientError as exc:
        print(f"error: {_describe(exc)}", file=err)
        return _exit_status(exc)
    except Exception as exc:  # a bug here still ends in one line, not a traceback
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=err)
        return EXIT_BROKER_ERROR
    if result is not None:
        print(json.dumps(result, indent=2, ensure_ascii=False), file=out)
    return EXIT_OK


def _call(args: argparse.Namespace) -> tuple[str, str, list[tuple[str, str]], Any]:
    command = str(args.command)
    if command.lower() == "health":
        if args.path is not None:
            raise _Usage("health takes no path")
        return "GET", "/health", [], None
    method = command.upper()
    if method not in METHODS:
        raise _Usage(f"unknown command {command!r}: use health or one of {', '.join(METHODS)}")
    if not args.path or not str(args.path).startswith("/"):
        raise _Usage(f"{method} needs a path that starts with '/'")
    path, _, query = str(args.path).partition("?")
    params = [_pair(p) for p in query.split("&") if p] + [_pair(q) for q in args.query]
    body = None
    if args.data is not None:
        try:
            body = json.loads(args.data)
        except ValueError as exc:
            raise _Usage(f"--data is not JSON: {exc}") from exc
    return method, path, params, body


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not name:
        raise _Usage(f"query parameter {text!r} has no name")
    # A ?query typed in PATH may be encoded already; decode once, the client encodes it.
    return unquote_plus(name), unquote_plus(value) if sep else ""


def _client(args: argparse.Namespace, env: Mapping[str, str]) -> BrokerClient:
    import boto3
    from botocore.exceptions import BotoCoreError

    if args.max_attempts < 1 or args.max_wait < 0 or args.timeout <= 0:
        raise _Usage("--max-attempts must be >= 1, --max-wait >= 0 and --timeout > 0")
    retry = RetryPolicy(max_attempts=args.max_attempts, max_total_wait=args.max_wait)
    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
    except BotoCoreError as exc:  # ProfileNotFound and friends
        raise CredentialsMissing(f"cannot use AWS profile {args.profile!r}: {exc}") from exc
    url = args.url or (None if args.stack else env.get(URL_VARIABLE))
    stack = args.stack or (None if url else env.get(STACK_VARIABLE))
    if stack and not url:
        return BrokerClient.from_stack(
            stack, region=args.region, session=session, retry=retry, timeout=args.timeout
        )
    if url:
        try:
            return BrokerClient(
                url, region=args.region, session=session, retry=retry, timeout=args.timeout
            )
        except ValueError as exc:
            raise _Usage(str(exc)) from exc
    raise _Usage(f"say where the broker is: --url, --stack, ${URL_VARIABLE} or ${STACK_VARIABLE}")


def _describe(error: BrokerClientError) -> str:
    if not isinstance(error, BrokerError):
        return error.message
    text = str(error)
    if isinstance(error, RetryableError):
        later = ""
        if error.retry_after is not None:
            later = f"; the broker asks to retry after {error.retry_after:g} s"
        text += f" (after {error.attempts} attempt(s){later})"
    if isinstance(error, NotAuthorized):
        text += "\n  " + _hint(error)
    return text


def _hint(error: NotAuthorized) -> str:
    if error.error_type == "MissingAuthenticationTokenException":
        # This client always signs: API Gateway says this for a method or path it lacks.
        return "(the API has no such method and path: check the path, e.g. /voice/api/v1/...)"
    return (
        "(the request must be SigV4-signed for service execute-api in the API's region, "
        "and your IAM identity needs execute-api:Invoke on this method and path)"
    )


def _exit_status(error: BrokerClientError) -> int:
    statuses: tuple[tuple[type[BrokerClientError], int], ...] = (
        (NotAuthorized, EXIT_NOT_AUTHORIZED),
        (RetryableError, EXIT_TRY_LATER),
        (BrokerError, EXIT_BROKER_ERROR),
        (Unreachable, EXIT_UNREACHABLE),
        (CredentialsMissing, EXIT_SETUP),
        (CredentialsExpired, EXIT_SETUP),
        (RegionMissing, EXIT_SETUP),
        (StackLookupFailed, EXIT_SETUP),
    )
    return next((code for kind, code in statuses if isinstance(error, kind)), EXIT_BROKER_ERROR)


__all__ = ["main"]
