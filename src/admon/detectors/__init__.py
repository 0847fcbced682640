"""admon.detectors."""
