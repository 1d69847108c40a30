from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(**kwargs) -> None:
    from apps.users.services import roles_sync

    roles_sync()


class UsersConfig(AppConfig):
    name = "apps.users"
    label = "users"
    verbose_name = "Users and roles"

    def ready(self) -> None:
        from apps.users import receivers  # noqa: F401 - connects the sign-in audit receivers

        # Runs after Django created this app's permissions, so the roles can hold them.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="users.sync_roles")
