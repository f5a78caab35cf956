"""The runnable components the launcher knows about.

Each service module provides ``python -m <module> migrate`` (PostgreSQL services) and
``python -m <module> serve``, reads its settings from ``<env_prefix>*`` variables and
serves ``/graphql``, ``/healthz``, ``/readyz`` and ``/metrics`` on its port.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

Datastore = Literal["postgres", "mongo"]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    module: str
    datastore: Datastore | None
    env_prefix: str

    @property
    def database_name(self) -> str:
        """The service's own database (PostgreSQL database or MongoDB database name)."""
        return self.name

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"


GATEWAY = ServiceSpec(
    name="gateway", port=4000, module="gateway", datastore=None, env_prefix="GATEWAY_"
)

SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("members", 4001, "members", "postgres", "MEMBERS_"),
    ServiceSpec("content", 4002, "content", "mongo", "CONTENT_"),
    ServiceSpec("opportunities", 4003, "opportunities", "postgres", "OPPORTUNITIES_"),
    ServiceSpec("payments", 4004, "payments", "postgres", "PAYMENTS_"),
)


@dataclass(frozen=True)
class Companion:
    """A process a service needs beside it, started with it (``python -m <module> serve``).

    The owner's ``<owner prefix><url_setting>`` gets the companion's base URL, and the
    companion's ``<companion prefix><callback_setting>`` gets the owner's base URL plus
    ``callback_path``. When the owner's setting is already in the environment (a real
    partner), the companion is not started.
    """

    spec: ServiceSpec
    url_setting: str
    callback_setting: str
    callback_path: str


# The payments service calls its partners over HTTP and they answer by webhook; in dev
# those partners are the sandbox.
PAYMENTS_SANDBOX = ServiceSpec(
    "payments-sandbox", 4014, "payments.sandbox", None, "PAYMENTS_SANDBOX_"
)
COMPANIONS: dict[str, tuple[Companion, ...]] = {
    "payments": (Companion(PAYMENTS_SANDBOX, "PARTNER_BASE_URL", "WEBHOOK_URL", "/webhooks"),),
}


def module_available(module: str) -> bool:
    """True when ``python -m <module>`` can run: the package and its ``__main__`` exist."""
    try:
        return importlib.util.find_spec(f"{module}.__main__") is not None
    except ModuleNotFoundError:
        return False


def available_services(
    specs: tuple[ServiceSpec, ...] = SERVICES,
) -> tuple[list[ServiceSpec], list[ServiceSpec]]:
    """Split ``specs`` into (installed, missing)."""
    present = [s for s in specs if module_available(s.module)]
    missing = [s for s in specs if s not in present]
    return present, missing
