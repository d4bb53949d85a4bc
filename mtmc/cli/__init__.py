"""The ``mtmc`` command line (one module per verb)."""
