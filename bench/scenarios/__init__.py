"""One module per kind of measurement; each exposes ``run(...)`` returning a plain dict for the report."""
