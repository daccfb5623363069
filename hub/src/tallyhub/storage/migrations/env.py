"""Alembic environment: runs against the engine handed over by tallyhub.storage.migrate."""

from alembic import context
from tallyhub.storage.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
