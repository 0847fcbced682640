"""admon.runs."""
