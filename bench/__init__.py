"""Gateway benchmark: four fixed-data federation subgraphs, a monolith oracle, load generators
and a runner that compares the Kopano gateway with Apollo Gateway and Hive Gateway.

Run it with ``python -m bench`` (see bench/README.md).
"""
