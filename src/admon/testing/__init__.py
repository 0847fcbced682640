"""Small real datasets shipped for tests and examples."""
