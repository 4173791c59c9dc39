"""The store: every SQL statement of the project lives in this package.

`Connection` is re-exported so the wiring layer can annotate an open
transaction it passes between store calls without importing SQLAlchemy itself.
"""

from sqlalchemy import Connection

__all__ = ["Connection"]
