"""Every log line the broker writes during a soak, and a scan for secrets in text.

In Lambda the broker's Powertools loggers print JSON lines to stdout, one
per record, extra fields included. ``LogCapture`` formats each record with
the same Powertools formatter and keeps the line: the broker's loggers at
DEBUG (more than any deployment prints), every other logger (botocore,
urllib3, ...) at WARNING, as the Lambda runtime would.

``TokenScanner`` then looks for every secret the simulator issued, also
inside longer strings (a ``Bearer ...`` header, a form body, a URL).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Final

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

FRAGMENT: Final = 24
"""Characters of a secret that identify it; no log line has a random run this long by chance."""
_RUN: Final = re.compile(rf"[A-Za-z0-9_\-]{{{FRAGMENT},}}")
_PACKAGE: Final = "ringcx_broker"


def is_broker_logger(name: str) -> bool:
    """Powertools names a child logger ``<service>.<module>``: ``x.ringcx_broker.ring``."""
    return name == _PACKAGE or name.startswith(_PACKAGE + ".") or f".{_PACKAGE}." in f"{name}."


def broker_loggers() -> list[logging.Logger]:
    manager = logging.root.manager
    return [
        logger
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and is_broker_logger(name)
    ]


class LogCapture(logging.Handler):
    """Keeps every record as the JSON line Lambda would print, with the
    (virtual) time ``clock`` gave when it was written."""

    def __init__(self, clock: Callable[[], float] = lambda: 0.0) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(LambdaPowertoolsFormatter())
        self._clock = clock
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append((self._clock(), self.format(record)))
        except Exception:  # a formatting bug must not stop the soak; logging reports it
            self.handleError(record)

    @contextmanager
    def installed(self) -> Iterator[LogCapture]:
        """Capture while the block runs (import the broker's modules first:
        a logger created later is only caught at WARNING, through the root)."""
        broker = broker_loggers()
        levels = [(logger, logger.level) for logger in broker]
        for logger in broker:
            logger.addHandler(self)
            logger.setLevel(logging.DEBUG)
        others = _Others(self)
        logging.root.addHandler(others)
        try:
            yield self
        finally:
            logging.root.removeHandler(others)
            for logger, level in levels:
                logger.removeHandler(self)
                logger.setLevel(level)


class _Others(logging.Handler):
    """Records of every other logger, at WARNING; the broker's are already kept."""

    def __init__(self, capture: LogCapture) -> None:
        super().__init__(logging.WARNING)
        self._capture = capture

    def emit(self, record: logging.LogRecord) -> None:
        if not is_broker_logger(record.name):
            self._capture.emit(record)


class TokenScanner:
    """Finds known secrets in text.

    A JWT is known by its signature and by the end of its claims (the random
    ``jti``), any other secret by its first ``FRAGMENT`` characters; a
    secret shorter than that is searched for as it is. Each is found also
    when it sits inside a longer run of token characters.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._fragments: dict[str, str] = {}
        self._short: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def __len__(self) -> int:
        return len(set(self._fragments.values()) | self._short)

    def add(self, secret: str) -> None:
        if not secret:
            return
        parts = secret.split(".")
        jwt = len(parts) == 3 and all(len(p) >= FRAGMENT for p in parts[1:])
        for fragment in (parts[2][:FRAGMENT], parts[1][-FRAGMENT:]) if jwt else (secret,):
            if len(fragment) >= FRAGMENT and _RUN.fullmatch(fragment):
                self._fragments[fragment[:FRAGMENT]] = secret
            else:
                self._short.add(secret)

    def find(self, text: str) -> set[str]:
        """The secrets that occur in ``text``."""
        found = {secret for secret in self._short if secret in text}
        for match in _RUN.finditer(text):
            run = match.group()
            for start in range(len(run) - FRAGMENT + 1):
                secret = self._fragments.get(run[start : start + FRAGMENT])
                if secret is not None:
                    found.add(secret)
        return found
