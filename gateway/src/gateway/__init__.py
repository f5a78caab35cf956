"""Federation gateway."""
