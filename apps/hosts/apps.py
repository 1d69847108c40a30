from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "apps.hosts"
    label = "hosts"
    verbose_name = "Docker hosts"

    def ready(self) -> None:
        from apps.core.live import Watchable, register_watchable

        register_watchable("hosts", Watchable())
        register_watchable("host", Watchable())
