"""The fitting lab."""
