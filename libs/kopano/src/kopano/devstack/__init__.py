"""Developer stack: embedded real servers, the service registry and the ``up`` launcher."""

from kopano.devstack.embedded import (
    EmbeddedKafka,
    EmbeddedMongo,
    EmbeddedPostgres,
    EmbeddedServer,
    EmbeddedServerError,
)

__all__ = [
    "EmbeddedKafka",
    "EmbeddedMongo",
    "EmbeddedPostgres",
    "EmbeddedServer",
    "EmbeddedServerError",
]
