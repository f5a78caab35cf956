"""Pure domain rules of the members service: value objects and the member aggregate (no I/O)."""
