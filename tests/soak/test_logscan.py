"""The log capture keeps every line the broker writes, and the scanner finds
any known secret in text, also inside longer strings."""

from __future__ import annotations

import logging
import secrets

import pytest

from ringcx_broker import refresher
from ringcx_dev.simulator.tokens import mint_access_token, opaque_token
from ringcx_dev.soak.logscan import LogCapture, TokenScanner, is_broker_logger


def jwt() -> str:
    token, _ = mint_access_token(b"key", 1_700_000_000.0, 300.0, sub="1", account_id="2")
    return token


@pytest.mark.parametrize(
    "template",
    [
        "refresh failed for {}",
        "Authorization: Bearer {}",
        "refresh_token={}&rcTokenType=Bearer",
        '{"reason": "{}"}',
        "x{}y",  # glued to other token characters
    ],
)
@pytest.mark.parametrize("secret", [opaque_token(), jwt()], ids=["opaque", "jwt"])
def test_scanner_finds_a_planted_secret(template: str, secret: str) -> None:
    # Given a scanner that knows the secret, among others
    scanner = TokenScanner([opaque_token(), secret, jwt()])

    # When text carrying it is scanned
    found = scanner.find(template.replace("{}", secret))

    # Then exactly that secret is found
    assert found == {secret}


def test_scanner_finds_a_jwt_by_its_signature_alone() -> None:
    # Given a JWT whose header and claims were cut off in the text
    token = jwt()
    scanner = TokenScanner([token])

    # When the signature alone is scanned
    # Then the JWT is found
    assert scanner.find("sig=" + token.rsplit(".", 1)[1]) == {token}


def test_scanner_finds_a_short_secret_as_a_substring() -> None:
    # Given a secret shorter than a fragment
    scanner = TokenScanner(["sim.jwt"])

    # When text containing it is scanned
    # Then it is found
    assert scanner.find("assertion=sim.jwt.x") == {"sim.jwt"}


def test_scanner_ignores_text_without_secrets() -> None:
    # Given a scanner with many secrets
    scanner = TokenScanner([opaque_token() for _ in range(100)] + [jwt()])

    # When ordinary log text (ids, ARNs, another JWT) is scanned
    text = (
        '{"message": "Stored token", "generation": 12, "slot": '
        '"arn:aws:secretsmanager:us-east-1:123456789012:secret:ringcx-broker-1a2b3c4d/token-0",'
        f' "request": "{secrets.token_hex(16)}", "other": "{jwt()}"}}'
    )

    # Then nothing is found
    assert scanner.find(text) == set()


def test_capture_keeps_broker_lines_with_their_extras_and_virtual_time() -> None:
    # Given a capture on a clock at t = 42
    capture = LogCapture(clock=lambda: 42.0)
    secret = opaque_token()

    # When the broker logs, at DEBUG and with an extra field, while it is installed
    with capture.installed():
        refresher.logger.debug("debug line")
        refresher.logger.warning("leaky line", extra={"reason": secret})
    refresher.logger.warning("after the capture")

    # Then both lines are kept as JSON with the extra field, stamped 42; nothing after
    assert [t for t, _ in capture.lines] == [42.0, 42.0]
    assert "debug line" in capture.lines[0][1]
    assert TokenScanner([secret]).find(capture.lines[1][1]) == {secret}


def test_capture_keeps_other_loggers_from_warning_only() -> None:
    # Given an installed capture
    capture = LogCapture()
    other = logging.getLogger("soak.test.thirdparty")

    # When another library logs at INFO and at WARNING
    with capture.installed():
        other.info("chatty")
        other.warning("worth seeing")

    # Then only the warning is kept
    assert len(capture.lines) == 1
    assert "worth seeing" in capture.lines[0][1]


@pytest.mark.parametrize(
    ("name", "broker"),
    [
        ("service_undefined.ringcx_broker.refresher", True),
        ("ringcx-broker.ringcx_broker.proxy.app", True),
        ("ringcx_broker.ring", True),
        ("botocore.endpoint", False),
        ("ringcx_broker_other.x", False),
    ],
)
def test_is_broker_logger_matches_powertools_child_names(name: str, broker: bool) -> None:
    # Given a logger name (Powertools children are "<service>.<module>")
    # When it is classified
    # Then only the broker package's loggers count as the broker's
    assert is_broker_logger(name) is broker
