"""Use cases of the members service, one module per area. Each use case is one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from members.service.accounts import MembersService
from members.service.admin import AdminService
from members.service.common import ServiceConfig
from members.service.connections import ConnectionService
from members.service.data_rights import DataRightsService
from members.service.directory import DirectoryService
from members.service.organisations import OrganisationService
from members.service.statistics import StatisticsService


@dataclass(frozen=True, slots=True)
class Services:
    config: ServiceConfig
    accounts: MembersService
    admin: AdminService
    organisations: OrganisationService
    connections: ConnectionService
    directory: DirectoryService
    statistics: StatisticsService
    data_rights: DataRightsService
