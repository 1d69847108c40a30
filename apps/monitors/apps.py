from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    name = "apps.monitors"
    label = "monitors"
    verbose_name = "Health checks"

    def ready(self) -> None:
        from apps.core.audit import ACTION_LABELS
        from apps.core.schedules import DefaultSchedule, add_default_schedule
        from apps.monitors import receivers  # noqa: F401 - label-made checks follow the containers' labels

        ACTION_LABELS.update(
            {
                "monitors.check_create": "Added health check",
                "monitors.check_update": "Changed health check",
                "monitors.check_delete": "Deleted health check",
                "monitors.unhealthy": "Health check failing",
                "monitors.healthy": "Health check passing again",
                "monitors.restart_refused": "Not restarted for its health check: restart limit reached",
            }
        )
        add_default_schedule(
            DefaultSchedule(
                name="Run health checks",
                task="monitors.dispatch",
                every_seconds=5,
                expire_seconds=5,
                description="Queues every HTTP health check that is due (each check has its own interval).",
            )
        )
        add_default_schedule(
            DefaultSchedule(
                name="Delete old health-check results",
                task="monitors.purge_results",
                crontab={"minute": "41"},
                description="Removes health-check results older than 7 days.",
            )
        )
