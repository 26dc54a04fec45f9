"""Alembic environment: migrations always run on a connection Vigil hands over (see ``vigil.store.migrations``).

Vigil runs them itself when it opens a workspace (or on ``vigil migrate``), inside one transaction that holds the
database's migration lock. The ``alembic`` command line works too, for authors: see this folder's README.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # the alembic CLI, for authors: `alembic -x url=sqlite:///x.db upgrade head`
    from sqlalchemy import create_engine

    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database: alembic -x url=sqlite:///path/to/metadata.db ...")
    with create_engine(url).begin() as conn:
        context.configure(connection=conn, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
