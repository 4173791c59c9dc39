"""WebSub publishing: tell the hub which feed URLs changed, so readers get a push instead of a poll.

A hub that is down must not fail a feed build: every outcome comes back as a
Ping (and one log line), and after a connection failure the rest are not tried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Ping:
    """The hub's answer about one feed URL: `detail` is the HTTP status or the failure."""

    url: str
    ok: bool
    detail: str


def publish(
    hub_url: str, urls: Sequence[str], timeout: float = TIMEOUT_SECONDS
) -> tuple[Ping, ...]:
    """POST `hub.mode=publish` for each URL (one request each, as every hub accepts)."""
    pings: list[Ping] = []
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for url in urls:
            if pings and pings[-1].detail.startswith("unreachable"):
                pings.append(Ping(url, False, "skipped: hub unreachable"))
                continue
            try:
                response = client.post(hub_url, data={"hub.mode": "publish", "hub.url": url})
            except httpx.HTTPError as exc:
                pings.append(Ping(url, False, f"unreachable: {type(exc).__name__}"))
            else:
                ok = response.is_success
                pings.append(Ping(url, ok, f"HTTP {response.status_code}"))
            log.info("websub publish %s to %s: %s", url, hub_url, pings[-1].detail)
    return tuple(pings)
