"""README.md stays true: every command and every config key is documented there."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import BaseModel

from newsletter.cli import parser
from newsletter.config import ListSettings, Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
INTERNAL = {"instance_dir"}


def commands(top: argparse.ArgumentParser, prefix: str = "newsletter") -> list[str]:
    found = []
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(f"{prefix} {name}")
                found.extend(commands(sub, f"{prefix} {name}"))
    return found


def config_keys() -> list[str]:
    keys = []
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if name in INTERNAL:
            continue
        if isinstance(model, type) and issubclass(model, BaseModel):
            keys.extend(f"{name}.{key}" for key in model.model_fields)
        elif name != "lists":
            keys.append(name)
    keys.extend(f"lists.{key}" for key in ListSettings.model_fields)
    return keys


def test_readme_starts_with_the_two_commands() -> None:
    head = README[: README.index("## ", README.index("## ") + 3)]
    assert "pip install . && newsletter demo" in head
    assert 'pip install ".[test]" && pytest' in head


def test_every_command_is_documented() -> None:
    missing = [c for c in commands(parser()) if f"`{c}" not in README]
    assert missing == []


def test_every_config_key_is_documented() -> None:
    missing = [k for k in config_keys() if f"`{k}`" not in README]
    assert missing == []
