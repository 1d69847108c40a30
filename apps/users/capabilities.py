"""DockMon's named capabilities and the three built-in roles.

A capability is what a view or consumer checks (`hosts.manage`); a role is a group of
capabilities. Both are stored as Django permissions and groups, so the admin can show
them, but code only ever names capabilities, through `apps.users.access`.
Later apps add their capabilities here, next to the roles that hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Capability(StrEnum):
    HOSTS_MANAGE = "hosts.manage"
    CONTAINERS_OPERATE = "containers.operate"
    CONTAINERS_MANAGE = "containers.manage"
    CONTAINERS_VIEW_ENV = "containers.view_env"
    DEPLOYMENTS_DEPLOY = "deployments.deploy"
    ALERTS_MANAGE = "alerts.manage"
    SETTINGS_MANAGE = "settings.manage"
    USERS_MANAGE = "users.manage"
    AUDIT_VIEW = "audit.view"


CAPABILITY_LABELS: dict[Capability, str] = {
    Capability.HOSTS_MANAGE: "Add, change and remove Docker hosts",
    Capability.CONTAINERS_OPERATE: "Start, stop, restart, kill, pause and tag containers; run bulk jobs",
    Capability.CONTAINERS_MANAGE: "Rename and remove containers",
    Capability.CONTAINERS_VIEW_ENV: "See container environment variables",
    Capability.DEPLOYMENTS_DEPLOY: "Deploy, redeploy and tear down stacks",
    Capability.ALERTS_MANAGE: "Manage alert rules and notification channels",
    Capability.SETTINGS_MANAGE: "Change global settings",
    Capability.USERS_MANAGE: "Create and change users and their roles",
    Capability.AUDIT_VIEW: "Read the audit trail",
}


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"

    @property
    def group_name(self) -> str:
        return self.value.capitalize()


@dataclass(frozen=True)
class RoleInfo:
    description: str
    capabilities: frozenset[Capability]


ROLES: dict[Role, RoleInfo] = {
    Role.ADMIN: RoleInfo("Everything, including hosts, users and settings.", frozenset(Capability)),
    Role.OPERATOR: RoleInfo(
        "Sees everything, operates containers and deploys.",
        frozenset(
            {
                Capability.CONTAINERS_OPERATE,
                Capability.CONTAINERS_VIEW_ENV,
                Capability.DEPLOYMENTS_DEPLOY,
                Capability.AUDIT_VIEW,
            }
        ),
    ),
    Role.VIEWER: RoleInfo("Read only: dashboards, hosts and containers.", frozenset()),
}
