"""admon.sinks."""
