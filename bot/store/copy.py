"""Copy a store into an empty one (SQLite into PostgreSQL), with its whole history.

Ids are kept, so every delivery keeps its number and every entry its deliveries; the
counts of the two stores are compared at the end.
"""

from __future__ import annotations

import sqlalchemy as sa

from bot.errors import StorageError
from bot.store.schema import deliveries, entries, feeds, target_state
from bot.store.sql import SqlStore, _reason

TABLES = (feeds, entries, deliveries, target_state)  # in the order their keys need
BATCH = 5_000


def copy_store(source: SqlStore, target: SqlStore) -> dict[str, int]:
    """Copy every feed, entry, delivery and target state of ``source`` into ``target``,
    which must hold none yet; return the rows copied per table. Raises ``StorageError``."""
    with target.engine.connect() as c:
        held = {
            t.name: c.execute(sa.select(sa.func.count()).select_from(t)).scalar() for t in TABLES
        }
    if any(held.values()):
        raise StorageError(
            "the target store is not empty ("
            + ", ".join(f"{n} {name}" for name, n in held.items() if n)
            + "): copy into a new, empty database"
        )
    copied: dict[str, int] = {}
    try:
        with source.engine.connect() as read, target.engine.begin() as write:
            for table in TABLES:
                rows = read.execution_options(yield_per=BATCH).execute(sa.select(table))
                count = 0
                for batch in rows.mappings().partitions(BATCH):
                    write.execute(table.insert(), [dict(row) for row in batch])
                    count += len(batch)
                copied[table.name] = count
            if write.dialect.name == "postgresql":
                for table in (entries, deliveries):
                    write.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                            f" COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                        )
                    )
            for table in TABLES:
                there = write.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                if there != copied[table.name]:
                    raise StorageError(
                        f"{table.name}: {copied[table.name]} rows read, {there} written;"
                        " nothing was copied"
                    )
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(
            f"copying the store failed, nothing was copied: {_reason(error)}"
        ) from error
    return copied
