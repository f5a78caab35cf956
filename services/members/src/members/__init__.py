"""Members service."""
