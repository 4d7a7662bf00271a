"""Cross-language news coverage aggregator."""

__version__ = "0.1.0"
