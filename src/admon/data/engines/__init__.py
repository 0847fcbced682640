"""admon.data.engines."""
