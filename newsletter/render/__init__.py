"""render: Jinja2 templates → premailer once per issue → frozen HTML and text → per-subscriber fill.

`fill` is what a send and the staff preview call per message; `digest` renders an
issue once. Submodules: env (templates), inline (premailer, offline), text
(plain-text part), digest (an issue plan to frozen HTML and text), fill.
"""

from __future__ import annotations

from newsletter.render.fill import escape_html, personalise, public_values, subscriber_values

__all__ = ["escape_html", "personalise", "public_values", "subscriber_values"]
