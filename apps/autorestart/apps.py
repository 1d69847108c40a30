from django.apps import AppConfig


class AutoRestartConfig(AppConfig):
    name = "apps.autorestart"
    label = "autorestart"
    verbose_name = "Auto-restart"
