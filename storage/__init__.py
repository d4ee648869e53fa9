"""Storage: the schema, migrations, queries, evidence files and the outbox. The only SQL."""
