"""Database access: tables, connections, migrations."""
