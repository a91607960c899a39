"""The package version, in a module of its own so that any stage may read it (seqattnet/__init__.py sits
above every stage: it offers the Python API)."""

__version__ = "0.1.0"
