"""All SQL: the database and its transactions, prepared statements, the version stamp, named queries."""
