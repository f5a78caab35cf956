"""MongoDB adapters: collections, indexes and document mapping."""
