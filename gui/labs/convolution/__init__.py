"""The convolution lab."""
