"""One command at a time, for one study database: what must read the study and then write to it
without another command doing the same in between (studies/recover.py's recovery, a grid point's
pick in studies/samplers.py). Optuna's storage offers no such lock of its own."""
from __future__ import annotations

import contextlib
from typing import Iterator

from core.locks import held

ADVISORY_KEY = 0x636966617231  # PostgreSQL's advisory lock key: any fixed number ("cifar1")


@contextlib.contextmanager
def one_at_a_time(url: str) -> Iterator[None]:
    """The block runs in one command at a time for the study database `url`: a flock on a file beside
    a SQLite database (one machine's processes), a PostgreSQL advisory lock (every machine's);
    elsewhere (another database, an in-memory one, Windows) nothing."""
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    if path and not path.startswith(("file:", ":memory:")):
        # Not a flock on the database file itself: closing any descriptor of it drops SQLite's own locks.
        with held(path + ".lock", wait=True):
            yield
    elif url.startswith("postgresql"):
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_KEY})
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
        finally:
            engine.dispose()
    else:
        yield
