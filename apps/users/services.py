"""Writes on users and roles. Every change is recorded in the audit trail."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import models, transaction

from apps.core.audit import record
from apps.users.capabilities import ROLES, Role
from apps.users.models import User


def roles_sync() -> None:
    """Create the three role groups and give each exactly its capabilities (idempotent)."""
    permissions = {p.codename: p for p in Permission.objects.filter(content_type__app_label="users")}
    for role, info in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role.group_name)
        group.permissions.set([permissions[str(capability)] for capability in info.capabilities])


def role_assign(user: User, role: Role) -> None:
    # Admins get the Django admin too; everyone else works only in DockMon's pages.
    user.is_staff = user.is_superuser = role == Role.ADMIN
    user.save(update_fields=["is_staff", "is_superuser"])
    user.groups.set([Group.objects.get(name=role.group_name)])


class UserChangeRefused(Exception):
    """A change that would lock everybody out, such as removing the last admin."""


def _is_last_active_admin(user: User) -> bool:
    if user.role != Role.ADMIN or not user.is_active:
        return False
    admins = User.objects.filter(is_active=True).filter(
        models.Q(is_superuser=True) | models.Q(groups__name=Role.ADMIN.group_name)
    )
    return not admins.exclude(pk=user.pk).exists()


def _create_user(*, username: str, password: str, role: Role, email: str) -> User:
    user = User.objects.create_user(username=username, email=email, password=password)
    role_assign(user, role)
    return user


@transaction.atomic
def user_create(*, actor: User, username: str, password: str, role: Role, email: str = "", request=None) -> User:
    user = _create_user(username=username, password=password, role=role, email=email)
    record(actor, "users.create", user, details={"role": role.value, "email": email}, request=request)
    return user


@transaction.atomic
def user_update(*, actor: User, user: User, email: str, role: Role, is_active: bool, request=None) -> User:
    if (role != Role.ADMIN or not is_active) and _is_last_active_admin(user):
        raise UserChangeRefused(f"{user} is the last active admin; make someone else an admin first.")
    changes = {}
    if user.email != email:
        changes["email"] = email
    if user.role != role:
        changes["role"] = role.value
    if user.is_active != is_active:
        changes["is_active"] = is_active
    user.email = email
    user.is_active = is_active
    user.save(update_fields=["email", "is_active"])
    role_assign(user, role)
    if changes:
        record(actor, "users.update", user, details=changes, request=request)
    return user


@transaction.atomic
def user_set_password(*, actor: User, user: User, password: str, request=None) -> None:
    user.set_password(password)
    user.save(update_fields=["password"])
    record(actor, "users.set_password", user, request=request)


@transaction.atomic
def user_delete(*, actor: User, user: User, request=None) -> None:
    if user.pk == actor.pk:
        raise UserChangeRefused("You cannot delete your own account.")
    if _is_last_active_admin(user):
        raise UserChangeRefused(f"{user} is the last active admin and cannot be deleted.")
    record(actor, "users.delete", user, severity="warning", request=request)
    user.delete()


def first_admin_create(*, username: str, password: str, email: str = "", request=None) -> User | None:
    """Create the first admin, or return None when a user already exists.

    The check and the insert share one transaction; on SQLite the IMMEDIATE
    transaction mode and on PostgreSQL a table lock stop two setups racing.
    """
    with transaction.atomic():
        if transaction.get_connection().vendor == "postgresql":
            with transaction.get_connection().cursor() as cursor:
                cursor.execute(f"LOCK TABLE {User._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
        if User.objects.exists():
            return None
        user = _create_user(username=username, password=password, role=Role.ADMIN, email=email)
        via = "setup page" if request else "environment"
        record(user if request else None, "users.create_first_admin", user, details={"via": via}, request=request)
        return user
