"""The migrations create exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from engine.store import db as store_db
from engine.store.tables import Base


def test_migrations_match_models(db_url):
    sa = create_engine(db_url)
    try:
        with sa.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert MigrationContext.configure(conn).get_current_revision() == store_db.head_revision()
    finally:
        sa.dispose()


def test_engine_on_empty_database_migrates_or_explains(tmp_path):
    from engine import Engine, Settings
    from engine.errors import StorageError

    url = f"sqlite:///{tmp_path}/new.db"
    try:
        Engine(Settings(database_url=url, auto_migrate=False))
    except StorageError as exc:
        assert "baton db upgrade" in str(exc)
    else:
        raise AssertionError("an unmigrated database must be refused when auto_migrate is off")
    eng = Engine(Settings(database_url=url))
    assert eng.instances() == []
    eng.close()
