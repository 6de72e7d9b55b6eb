"""All SQL lives in this package, one module per entity or concern; every function runs in its caller's
transaction and never commits. Upper layers never build SQL themselves."""
