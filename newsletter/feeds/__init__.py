"""The feeds stage: the newest public articles as RSS 2.0, Atom 1.0 and JSON Feed 1.1 files.

`write_feeds(app)` is the one entry point of the pipeline; the web app uses
`FORMATS` to serve and advertise what it writes.
"""

from newsletter.feeds.build import FeedReport, FeedSpec, build_feeds, write_feeds
from newsletter.feeds.formats import FORMATS, Format
from newsletter.feeds.items import FeedItem, article_id

__all__ = [
    "FORMATS",
    "FeedItem",
    "FeedReport",
    "FeedSpec",
    "Format",
    "article_id",
    "build_feeds",
    "write_feeds",
]
