"""Fixtures for the local runner tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ringcx_dev.local.functions import LocalFunctions
from ringcx_dev.local.template import ResolvedTemplate, Template

from .fakes import write_fake_project


@pytest.fixture
def fake_template(tmp_path: Path) -> Path:
    return write_fake_project(tmp_path)


@pytest.fixture
def fake_resolved(fake_template: Path) -> ResolvedTemplate:
    return Template.load(fake_template).resolve()


@pytest.fixture
def fake_functions(fake_resolved: ResolvedTemplate) -> Iterator[LocalFunctions]:
    functions = LocalFunctions(fake_resolved, extra_env={"X": "from-the-runner"})
    yield functions
    functions.stop_all()
