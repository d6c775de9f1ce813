"""One module per outside system, each behind a small interface with an in-memory fake."""
