"""docs/images/dashboard.svg is drawn from the template's widgets and kept current."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from ringcx_dev.dashboard import load_dashboard, render_svg
from ringcx_dev.dashboard.__main__ import main
from ringcx_dev.dashboard.svg import display
from ringcx_dev.local.template import load_document

ROOT = Path(__file__).parents[2]
IMAGE = ROOT / "docs" / "images" / "dashboard.svg"
REGENERATE = "PYTHONPATH=layers/auth:devtools python -m ringcx_dev.dashboard render " + str(
    IMAGE.relative_to(ROOT)
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_document(ROOT / "template.yaml")


def svg_text(svg: str) -> str:
    """All the text the image shows, one string."""
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output
    return "\n".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))


def test_dashboard_image_is_up_to_date_with_the_template(template: dict[str, Any]) -> None:
    assert IMAGE.read_text(encoding="utf-8") == render_svg(template), f"run: {REGENERATE}"


def test_dashboard_image_shows_every_widget_metric_and_alarm(template: dict[str, Any]) -> None:
    # Given the rendered image's text
    shown = svg_text(render_svg(template))
    dashboard = load_dashboard(template)

    # Then every widget title, every metric and every alarm is in it
    for widget in dashboard.widgets:
        assert widget.title in shown
        for alarm in widget.alarm_ids:
            assert alarm in shown
    for _, metric in dashboard.metrics:
        assert metric.name in shown
    # ... and it says that it holds no data
    assert "No live data" in shown
    assert "service=<stack>" in shown and "ApiName=<stack>" in shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${WriteBudgetAlarm.Arn}", "WriteBudgetAlarm"),
        ("${AWS::StackName}-ringcx-broker", "<stack>-ringcx-broker"),
        ("FunctionName=${ProxyFunction}", "FunctionName=ProxyFunction"),
        ("plain", "plain"),
    ],
)
def test_dashboard_image_names_placeholders_as_a_reader_would(text: str, expected: str) -> None:
    assert display(text) == expected


def test_dashboard_image_alarm_conditions_use_the_default_parameters(
    template: dict[str, Any],
) -> None:
    shown = svg_text(render_svg(template))
    assert "RingcxBroker/TokenSecondsLeft Minimum < 60 in 2 of 2 x 60 s" in shown


def test_dashboard_cli_render_writes_the_committed_image(tmp_path: Path) -> None:
    # When the CLI renders into a fresh folder
    output = tmp_path / "images" / "dashboard.svg"
    code = main(["--template", str(ROOT / "template.yaml"), "render", str(output)])

    # Then it wrote exactly the committed image
    assert code == 0
    assert output.read_text(encoding="utf-8") == IMAGE.read_text(encoding="utf-8")


def test_dashboard_cli_check_passes_on_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--template", str(ROOT / "template.yaml"), "check"]) == 0
    assert capsys.readouterr().out.startswith("0 drift problem(s)")


def test_dashboard_cli_check_fails_where_no_code_emits_the_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the template alone, in a folder without the broker's code
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")

    # When checked, then every code metric is reported and the exit status says so
    assert main(["--template", str(tmp_path / "template.yaml"), "check"]) == 1
    out = capsys.readouterr().out
    assert "RingcxBroker/Refreshes, which the code does not emit" in out


def test_dashboard_cli_reports_a_missing_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--template", str(tmp_path / "none.yaml"), "check"]) == 2
    assert "template not found" in capsys.readouterr().err
