"""The public URL scheme of an instance, in one place: web routes, feeds, emails use it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class Links:
    """Absolute URLs under the site's base URL (which has no trailing slash)."""

    base_url: str

    def home(self) -> str:
        return f"{self.base_url}/"

    def archive(self, page: int = 1) -> str:
        return f"{self.base_url}/archive" + (f"?page={page}" if page > 1 else "")

    def article(self, slug: str) -> str:
        return f"{self.base_url}/articles/{quote(slug)}"

    def issue(self, list_name: str, number: int) -> str:
        return f"{self.base_url}/issues/{quote(list_name)}/{number}"

    def feed(self, filename: str) -> str:
        return f"{self.base_url}/feeds/{quote(filename)}"

    def unsubscribe(self, token: str) -> str:
        return f"{self.base_url}/u/{token}"

    def preferences(self, token: str) -> str:
        return f"{self.base_url}/preferences/{token}"

    def confirm(self, token: str) -> str:
        return f"{self.base_url}/confirm/{token}"
