"""The throwaway PostgreSQL server the sweep and tracking tests use really serves SQL."""

import pytest
import sqlalchemy

pytestmark = pytest.mark.slow


def test_fresh_database_accepts_queries(postgres):
    engine = sqlalchemy.create_engine(postgres("probe"))
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("select 40 + 2")).scalar() == 42
    engine.dispose()
