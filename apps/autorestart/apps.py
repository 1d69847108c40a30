from django.apps import AppConfig


class AutoRestartConfig(AppConfig):
    name = "apps.autorestart"
    label = "autorestart"
    verbose_name = "Auto-restart"

    def ready(self) -> None:
        from apps.autorestart import receivers  # noqa: F401 - new containers get a policy, exits are acted on
        from apps.core.audit import ACTION_LABELS
        from apps.core.schedules import DefaultSchedule, add_default_schedule

        ACTION_LABELS.update(
            {
                "autorestart.scheduled": "Auto-restart scheduled",
                "autorestart.attempt": "Auto-restart attempt",
                "autorestart.cancelled": "Auto-restart cancelled",
                "autorestart.gave_up": "Auto-restart gave up",
                "autorestart.reset": "Auto-restart counter reset",
                "autorestart.policy": "Changed auto-restart",
            }
        )
        add_default_schedule(
            DefaultSchedule(
                name="Auto-restart safety net",
                task="autorestart.reconcile",
                every_seconds=30,
                expire_seconds=25,
                description="Schedules attempts for exits the events listener missed, and gives containers that "
                "stayed up all their attempts again (Settings → Auto-restart).",
            )
        )
