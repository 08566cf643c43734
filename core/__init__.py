"""Data, specification, backend contract, training driver, timing, results: everything but the math."""

__version__ = "0.1.0"
