"""Config: one line naming the key or file, exit code 2, environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter import config
from newsletter.cli import main
from newsletter.errors import ConfigError

SAMPLE = Path(__file__).resolve().parent.parent / "newsletter.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsletter.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_instance_config_is_valid() -> None:
    settings = config.load(SAMPLE)
    assert settings.site.title == "Riverbend Health Notes"
    assert {item.name for item in settings.lists} == {"weekly", "ms-monthly"}
    assert settings.database_url == f"sqlite:///{SAMPLE.parent / 'newsletter.db'}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[smtp]\nprot = 25\n", "smtp.prot: unknown key"),
        ("colour = 'red'\n", "colour: unknown key"),
        ("[smtp]\nport = 'abc'\n", "smtp.port: Input should be a valid integer"),
        ("[smtp]\nport = 70000\n", "smtp.port: Input should be less than or equal to 65535"),
        ("[smtp]\nsecurity = 'ssl3'\n", "smtp.security: Input should be 'none'"),
        ("[site]\ntimezone = 'Mars/Olympus'\n", "site.timezone: Value error, unknown time zone"),
        ("[site]\nbase_url = 'notes.example.org'\n", "site.base_url: Value error, must be"),
        ("[[lists]]\nname = 'Weekly List'\ntitle = 'x'\n", "lists.0.name: String should match"),
        ("[[lists]]\nname = 'weekly'\n", "lists.0.title: required key is missing"),
        ("[[lists]]\nname='a'\ntitle='A'\n[[lists]]\nname='a'\ntitle='B'\n", "repeated: a"),
        ("[smtp]\npassword = 'hunter2'\n", "smtp.password: secrets are not read from the file"),
        ("[smtp\nport = 1\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    message = str(caught.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message
    assert "hunter2" not in message


def test_cli_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "[smtp]\nport = 'abc'\n")
    assert main(["--config", str(path), "init"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: ") and "smtp.port" in err[0]
    assert not (tmp_path / "newsletter.db").exists()


def test_missing_file_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.toml"
    assert main(["--config", str(missing), "init"]) == 2
    assert f"{missing}: config file not found" in capsys.readouterr().err


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[smtp]\nport = 25\nhost = 'relay.example.org'\n")
    monkeypatch.setenv("NEWSLETTER_SMTP__PORT", "2525")
    monkeypatch.setenv("NEWSLETTER_SMTP__PASSWORD", "from-env")
    settings = config.load(path)
    assert settings.smtp.port == 2525
    assert settings.smtp.host == "relay.example.org"
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "from-env"
    assert "from-env" not in repr(settings)


def test_bad_environment_override_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_SMTP__PORT", "many")
    with pytest.raises(ConfigError, match=r"smtp\.port"):
        config.load(write(tmp_path, ""))


def test_signing_key_required_outside_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = config.load(write(tmp_path, ""))
    with pytest.raises(ConfigError, match="NEWSLETTER_WEB__SECRET_KEY"):
        settings.signing_key()
    monkeypatch.setenv("NEWSLETTER_WEB__SECRET_KEY", "k" * 32)
    assert config.load(write(tmp_path, "")).signing_key() == "k" * 32


def test_relative_paths_resolve_against_the_instance(tmp_path: Path) -> None:
    settings = config.load(write(tmp_path, "[paths]\ncontent = 'articles'\n"))
    assert settings.path(settings.paths.content) == tmp_path / "articles"
