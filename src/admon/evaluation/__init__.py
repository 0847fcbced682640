"""admon.evaluation."""
