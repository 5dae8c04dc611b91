"""The after-run tools behind ``snnlab inspect``, ``snnlab export`` and ``snnlab plot``."""
