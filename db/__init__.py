"""SeqLab's store: SQLAlchemy 2 models over SQLite (default) or any SQLAlchemy URL."""
