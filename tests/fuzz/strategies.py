"""Hypothesis strategies for what callers can make the broker read: API Gateway
REST proxy events (sound and hostile), exchange bodies and direct invokes,
and the refresher's direct-invoke payloads.

Hostile text is built from two sources: any code point (lone surrogates
included, which Python's JSON decoder produces from ``"\\ud800"``) and a list
of fragments known to break parsers, paths and headers, so that the rare
interesting cases are common.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

# Fragments that have broken (or could break) a path, header or encoder.
HOSTILE_FRAGMENTS = (
    "..",
    ".",
    "/",
    "//",
    "\\",
    "%2e%2e",
    "%2E%2e%2f",
    "%252e%252e",
    "%00",
    "%0d%0a",
    "%",
    "%25",
    "%ff",
    "%ED%A0%80",
    "%20",
    "%C2%A0",
    "%E2%80%8B",
    "\u00a0",
    "\u2000",
    "\u200b",
    "\u3000",
    "\ufeff",
    "\uff0e",
    "\u2025",
    "\uff0f",
    "\r\n",
    "\n",
    "\x00",
    "\x7f",
    "\x85",
    "\u2028",
    ";",
    ";jsessionid=1",
    "?",
    "#",
    "@",
    "http://evil.example",
    "//evil.example",
    "javascript:",
    "\u65e5\u672c",
    "\ud800",
    "\udfff",
    "\U0001f600",
    "PO\u017fT",
    "\u0130",
    "Bearer ",
    "Authorization",
    "Connection",
    "Transfer-Encoding",
    "X-Amz-Security-Token",
    "Traceback",
    "=",
    "&",
    " ",
    "\t",
)

_any_char = st.one_of(
    st.characters(exclude_categories=[]),  # every code point, Cs included
    st.characters(categories=["Cs"]),  # lone surrogates, rare otherwise
    st.characters(categories=["Zs", "Cf", "Cc"]),  # blanks and controls
    st.characters(max_codepoint=0x7F),
)

hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_FRAGMENTS), st.text(_any_char, max_size=8)),
    max_size=8,
).map("".join)

plain_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)
_UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
plain_segment = st.text(st.sampled_from(_UNRESERVED), min_size=1, max_size=12)

# Anything a JSON document can hold (NaN and infinities are not JSON).
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**18, max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=12,
)


def mostly(
    sound: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``sound`` three times in four: enough requests get past validation to be
    forwarded (and their replies scrubbed), while every field still turns hostile."""
    return st.one_of(sound, sound, sound, hostile)


def odd_value(*, excluding: type | tuple[type, ...] = ()) -> st.SearchStrategy[Any]:
    """Any JSON value of a type the field should not have."""
    return json_values.filter(lambda v: not isinstance(v, excluding))


def deep_json(depth: int) -> str:
    """JSON nested ``depth`` deep, as a text body: the review's RecursionError."""
    return '{"a":' * depth + "1" + "}" * depth


deep_bodies = st.sampled_from([50, 1_000, 20_000]).flatmap(
    lambda depth: st.sampled_from([deep_json(depth), "[" * depth + "]" * depth])
)
huge_bodies = st.sampled_from([64 * 1024, 1024 * 1024]).map(
    lambda size: json.dumps({"data": "x" * size})
)

# -- API Gateway REST proxy events -------------------------------------------------

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT")
FOLDED_METHODS = ("get", "post", "Post", "gET", "PO\u017fT", "po\u017ft", "G\u0395T", "POST ")

methods = mostly(
    st.sampled_from(("GET", "POST")),
    st.one_of(
        st.sampled_from(METHODS), st.sampled_from(FOLDED_METHODS), hostile_text.map(str.upper)
    ),
)

FORWARDED_HEADER_NAMES = ("Accept", "Content-Type", "accept-language", "If-None-Match")
OTHER_HEADER_NAMES = (
    "Authorization",
    "Host",
    "Cookie",
    "Connection",
    "Transfer-Encoding",
    "X-Amz-Security-Token",
    "X-Forwarded-Host",
    "Content-Length",
)
header_names = st.one_of(
    st.sampled_from(FORWARDED_HEADER_NAMES), st.sampled_from(OTHER_HEADER_NAMES), hostile_text
)
header_values = mostly(
    st.sampled_from(("application/json", "text/plain; charset=utf-8", "*/*", "fr, caf\u00e9")),
    hostile_text,
)
segments = mostly(
    st.one_of(st.sampled_from(("v1", "admin", "accounts", "15300002", "echo")), plain_segment),
    hostile_text,
)
sound_proxy_paths = st.lists(plain_segment, min_size=1, max_size=4).map("/".join)
proxy_paths = mostly(sound_proxy_paths, st.lists(segments, min_size=1, max_size=5).map("/".join))


@st.composite
def _headers(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, list[str]]]:
    """``headers`` and ``multiValueHeaders`` as API Gateway builds them (the
    single-value map holds each name's last value), or deliberately apart."""
    names = mostly(st.sampled_from(FORWARDED_HEADER_NAMES + OTHER_HEADER_NAMES), header_names)
    multi = draw(st.dictionaries(names, st.lists(header_values, max_size=3), max_size=5))
    single = {name: values[-1] for name, values in multi.items() if values}
    if draw(st.booleans()):
        single.update(draw(st.dictionaries(header_names, header_values, max_size=2)))
    return single, multi


@st.composite
def _query(draw: st.DrawFn) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    text = mostly(plain_text, hostile_text)
    multi = draw(st.dictionaries(text, st.lists(text, min_size=1, max_size=3), max_size=4))
    if not multi:
        return None, None
    return {key: values[-1] for key, values in multi.items()}, multi


@st.composite
def _body(draw: st.DrawFn) -> tuple[str | None, bool]:
    """A body and its base64 flag: text, real base64, false base64, deep or huge JSON."""
    kinds = ["none", "none", "text", "text", "base64", "bad-base64", "deep", "huge"]
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None, draw(st.booleans())
    if kind == "text":
        return draw(mostly(plain_text, hostile_text)), False
    if kind == "base64":
        return base64.b64encode(draw(st.binary(max_size=256))).decode(), True
    if kind == "bad-base64":
        return draw(hostile_text), True
    return draw(deep_bodies if kind == "deep" else huge_bodies), draw(st.booleans())


@st.composite
def _sound_api_event(draw: st.DrawFn) -> dict[str, Any]:
    route = draw(st.sampled_from(["voice"] * 6 + ["health", "token", "other"]))
    proxy = draw(proxy_paths)
    if route == "voice":
        path, resource, params = "/voice/api/" + proxy, "/voice/api/{proxy+}", {"proxy": proxy}
        if draw(st.integers(0, 3)) == 0:  # the path and proxy disagree
            params = {"proxy": draw(proxy_paths)}
    elif route in ("health", "token"):
        path = resource = "/" + route
        params = None
    else:
        path = resource = "/" + proxy
        params = None
    headers, multi_headers = draw(_headers())
    query, multi_query = draw(_query())
    body, b64 = draw(_body())
    method = draw(methods)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": "/v1" + path,
            "stage": "v1",
            "requestId": "fuzz",
            "identity": {"sourceIp": "203.0.113.10", "userArn": None},
        },
        "body": body,
        "isBase64Encoded": b64,
    }


API_FIELDS = (
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
    "body",
    "isBase64Encoded",
)


@st.composite
def _mutated(draw: st.DrawFn, event: dict[str, Any]) -> dict[str, Any]:
    """Replace or delete a few fields, or put odd values inside the maps."""
    for field in draw(st.lists(st.sampled_from(API_FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            event[field] = draw(json_values)
        else:
            event.pop(field, None)
    for field in ("headers", "multiValueHeaders", "pathParameters", "requestContext"):
        inner = event.get(field)
        if isinstance(inner, dict) and draw(st.integers(0, 4)) == 0:
            inner[draw(st.sampled_from(("Accept", "proxy", "stage", "identity")))] = draw(
                json_values
            )
    return event


api_events = st.one_of(
    _sound_api_event(),
    _sound_api_event().flatmap(_mutated),
)
"""REST proxy events: sound shapes with hostile text, and the same with odd
types, missing fields or nested junk in any field."""

# -- what else reaches a handler -------------------------------------------------

direct_invokes = json_values
"""A direct invoke's payload: anything JSON can hold."""

# What encoders choke on, appended to an otherwise plausible token.
BAD_UNICODE = ("\ud800", "\udfff", "\udc80x", "\u65e5\u672c", "\r\n", "\x00")
rc_tokens = st.one_of(
    st.just("rc-access-token-fuzz"),
    st.builds(lambda head, bad: head + bad, plain_text, st.sampled_from(BAD_UNICODE)),
    hostile_text,
    odd_value(excluding=str),
    st.just("   "),
)


@st.composite
def exchange_fields(draw: st.DrawFn) -> dict[str, Any]:
    """An exchange body's fields: mostly the documented ones with any value,
    sometimes with junk fields beside them."""
    fields: dict[str, Any] = {}
    if draw(st.integers(0, 3)) > 0:
        fields["rcAccessToken"] = draw(rc_tokens)
    if draw(st.booleans()):
        token_types = mostly(st.sampled_from(["Bearer", "bearer"]), json_values)
        fields["rcTokenType"] = draw(token_types)
    if draw(st.integers(0, 3)) == 0:  # the operator's account switch
        fields["replaceAccount"] = draw(mostly(st.booleans(), json_values))
    if draw(st.integers(0, 3)) == 0:
        fields.update(draw(st.dictionaries(hostile_text, json_values, max_size=3)))
    return fields


@st.composite
def _exchange_api_event(draw: st.DrawFn) -> dict[str, Any]:
    event = draw(_sound_api_event())
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = "/auth/exchange"
    event["pathParameters"] = None
    event["httpMethod"] = "POST"
    kind = draw(st.sampled_from(["json", "form", "base64-json", "other"]))
    fields = draw(exchange_fields())
    content_type = "application/json"
    if kind == "json":
        event["body"], event["isBase64Encoded"] = json.dumps(fields), False
    elif kind == "base64-json":
        raw = json.dumps(fields).encode("utf-8", "surrogatepass")
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    elif kind == "form":
        content_type = "application/x-www-form-urlencoded"
        event["body"] = "&".join(f"{k}={v}" for k, v in fields.items())
        event["isBase64Encoded"] = False
    if draw(st.booleans()):
        event["headers"]["Content-Type"] = content_type
    return event


exchange_api_events = st.one_of(_exchange_api_event(), _exchange_api_event().flatmap(_mutated))
exchange_direct_invokes = st.one_of(st.none(), st.just({}), exchange_fields(), direct_invokes)

SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-27T12:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/ringcx-broker-refresh"],
    "detail": {},
}

stale_generations = st.one_of(
    st.integers(min_value=-3, max_value=4),
    st.integers(min_value=10**9),
    st.just(10**40),
    odd_value(excluding=int),
    st.booleans(),
)
refresher_payloads = st.one_of(
    st.just(SCHEDULED_EVENT),
    st.builds(
        lambda extra: {**SCHEDULED_EVENT, **extra},
        st.dictionaries(hostile_text, json_values, max_size=2),
    ),
    st.fixed_dictionaries({"force": st.one_of(st.booleans(), json_values)}),
    st.fixed_dictionaries({"staleGeneration": stale_generations}),
    st.fixed_dictionaries(
        {"staleGeneration": stale_generations, "force": st.one_of(st.booleans(), json_values)}
    ),
    direct_invokes,
)
"""The refresher's documented payloads (schedule, ``force``, ``staleGeneration``)
with any values, and anything else JSON can hold."""
