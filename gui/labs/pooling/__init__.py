"""The pooling lab."""
