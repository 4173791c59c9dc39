"""newsletter: gather articles, publish feeds, compose and send email digests."""

__version__ = "0.1.0"
