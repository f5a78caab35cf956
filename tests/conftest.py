"""Shared test set-up: real servers (embedded, from env URLs, or testcontainers)."""

pytest_plugins = ["kopano.testing"]
