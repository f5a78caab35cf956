"""Use cases of the payments service. Each use case is one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from payments.service.admin import AdminService
from payments.service.common import ServiceConfig
from payments.service.data_rights import DataRightsService
from payments.service.remittances import RemittanceService
from payments.service.webhooks import WebhookService


@dataclass(frozen=True, slots=True)
class Services:
    config: ServiceConfig
    remittances: RemittanceService
    webhooks: WebhookService
    admin: AdminService
    data_rights: DataRightsService
