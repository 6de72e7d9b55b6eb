"""wirefeed's benchmark: ``python -m bench`` runs every scenario and writes ``bench/RESULTS.md``.

Modules: :mod:`bench.gen` (generated feeds, fixed seed), :mod:`bench.scenarios` (one module per kind of
measurement) and ``bench/__main__.py`` (runs them, writes the Markdown report). ``bench.dedupe_bench`` and
``bench.normalize_bench`` belong to the stories and parse/normalise modules; they are run from here as they are.
"""
