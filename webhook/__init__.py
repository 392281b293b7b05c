"""projected-token-webhook: inject audience-bound projected service-account tokens into pods."""

__version__ = "0.1.0"
