"""admon.registry."""
