"""docs/configuration.md is rendered from the settings and must stay so."""

from pathlib import Path

from typer.testing import CliRunner

from tillpoint.cli import app
from tillpoint.config import Settings
from tillpoint.settings_doc import OTHER, env_name, grouped_fields, render_markdown

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_setting_has_a_description() -> None:
    missing = [n for n, f in Settings.model_fields.items() if not (f.description or "").strip()]
    assert missing == [], f"give these Settings fields a description: {missing}"


def test_configuration_page_is_what_tillpoint_settings_renders() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_markdown(), (
        "docs/configuration.md is out of date: run `tillpoint settings > docs/configuration.md`"
    )


def test_every_setting_is_on_the_page_once_under_its_variable_name() -> None:
    page = render_markdown()
    for name in Settings.model_fields:
        assert page.count(f"| `{env_name(name)}` |") == 1, name
    assert env_name("redis_url") == "TILLPOINT_REDIS_URL"


def test_every_setting_has_a_section_of_its_own() -> None:
    unplaced = [names for group, names in grouped_fields() if group is OTHER]
    assert unplaced == [], "add these fields' prefixes to a group in settings_doc.GROUPS"


def test_check_passes_on_the_rendered_page_and_fails_on_a_stale_one(tmp_path: Path) -> None:
    current = tmp_path / "current.md"
    current.write_text(render_markdown(), encoding="utf-8")
    stale = tmp_path / "stale.md"
    stale.write_text(render_markdown().replace("`10/hour`", "`11/hour`"), encoding="utf-8")
    assert stale.read_text(encoding="utf-8") != current.read_text(encoding="utf-8")
    runner = CliRunner()

    assert runner.invoke(app, ["settings", "--check", str(current)]).exit_code == 0
    result = runner.invoke(app, ["settings", "--check", str(stale)])
    assert result.exit_code == 1
    assert runner.invoke(app, ["settings", "--check", str(tmp_path / "none.md")]).exit_code == 1


def test_settings_prints_the_page() -> None:
    result = CliRunner().invoke(app, ["settings"])
    assert result.exit_code == 0
    assert result.stdout == render_markdown()
