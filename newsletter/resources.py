"""Where the default theme and the sample instance are: inside the wheel, or in a checkout.

The wheel carries `templates/`, `content/`, `subscribers.csv` and `newsletter.toml`
under `newsletter/_data/`; a source checkout (or an editable install) has them at
the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DATA = Path(__file__).with_name("_data")
CHECKOUT = Path(__file__).resolve().parent.parent


def default_templates() -> Path:
    """The package's default theme, overridden file by file by an instance's templates/."""
    packaged = PACKAGE_DATA / "templates"
    return packaged if packaged.is_dir() else CHECKOUT / "templates"


def sample_instance() -> Path:
    """The folder holding the sample instance's config, content and subscribers."""
    packaged = PACKAGE_DATA / "sample"
    return packaged if packaged.is_dir() else CHECKOUT
