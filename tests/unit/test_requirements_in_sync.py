"""The layer's requirements.txt (read by sam build) and pyproject's runtime
group (read by the dev environment) must name the same packages."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_layer_requirements_match_pyproject_runtime_group() -> None:
    # Given both lists of run-time requirements
    layer = {
        line.strip()
        for line in (ROOT / "layers/auth/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    runtime = set(groups["runtime"])

    # Then the layer ships exactly the runtime group minus boto3 (the runtime has it)
    assert {r for r in runtime if not r.startswith("boto3")} == layer
    assert not any(r.startswith(("boto3", "botocore")) for r in layer)
