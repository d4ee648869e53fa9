"""The rules of complaint handling. Knows no transport and no database engine."""
