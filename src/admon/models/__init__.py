"""admon.models."""
