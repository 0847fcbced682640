"""admon.service."""
