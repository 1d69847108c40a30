from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "apps.alerts"
    label = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from apps.alerts import live, receivers  # noqa: F401 - receivers connect on import
        from apps.core.audit import ACTION_LABELS
        from apps.core.schedules import DefaultSchedule, add_default_schedule

        live.register()
        ACTION_LABELS.update(
            {
                "alerts.fire": "Alert fired",
                "alerts.resolve": "Alert resolved",
                "alerts.acknowledge": "Acknowledged alert",
                "alerts.snooze": "Snoozed alert",
                "alerts.unsnooze": "Snooze ended, alert firing again",
                "alerts.comment": "Commented on alert",
                "alerts.purge": "Deleted old alerts",
                "alerts.rule_create": "Created alert rule",
                "alerts.rule_update": "Changed alert rule",
                "alerts.rule_delete": "Deleted alert rule",
                "alerts.rule_toggle": "Enabled or disabled alert rule",
            }
        )
        add_default_schedule(
            DefaultSchedule(
                name="Check alerts",
                task="alerts.reconcile",
                every_seconds=30,
                expire_seconds=30,
                description="Resolves alerts whose condition cleared, ends snoozes, and sends notifications "
                "held back by quiet hours once they are over.",
            )
        )
        add_default_schedule(
            DefaultSchedule(
                name="Delete old alerts",
                task="alerts.purge",
                crontab={"minute": "41"},
                description="Removes resolved alerts older than the retention period (Alerts → Settings).",
            )
        )
