"""admon.forecast."""
