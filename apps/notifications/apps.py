from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from apps.core.audit import ACTION_LABELS
        from apps.core.schedules import DefaultSchedule, add_default_schedule

        ACTION_LABELS.update(
            {
                "notifications.channel_create": "Added notification channel",
                "notifications.channel_update": "Changed notification channel",
                "notifications.channel_delete": "Deleted notification channel",
                "notifications.channel_test": "Sent a test notification",
            }
        )
        add_default_schedule(
            DefaultSchedule(
                name="Send due notifications",
                task="notifications.sweep",
                every_seconds=30,
                expire_seconds=30,
                description="Safety net: sends notifications whose retry is due or whose sending task was lost.",
            )
        )
