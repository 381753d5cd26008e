"""SQL storage: SQLite (the embedded default) and PostgreSQL, one schema, one code path.

``stores.open_store`` builds every repository on one ``Database``; ``migrating`` brings the
schema to the head revision. Only this package imports SQLAlchemy, its drivers and Alembic.
"""
