"""The backprop lab."""
