"""admon.data."""
