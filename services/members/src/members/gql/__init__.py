"""The members subgraph's GraphQL layer, one module per area (schema.py composes them)."""
