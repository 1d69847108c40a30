from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(**kwargs) -> None:
    from apps.core.schedules import schedules_ensure

    schedules_ensure()


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "DockMon core"

    def ready(self) -> None:
        from apps.core import checks, receivers  # noqa: F401 - registers checks and audit receivers

        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="core.ensure_schedules")
