"""Storage: tables, migrations, the engine and the writes that keep rows consistent."""
