"""All SQL lives in this package, one module per entity. Upper layers never build SQL themselves."""
