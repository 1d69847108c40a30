from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    label = "metrics"
    verbose_name = "Metrics"

    def ready(self) -> None:
        from apps.core.schedules import DefaultSchedule, add_default_schedule
        from apps.metrics import receivers  # noqa: F401 - a deleted host's live figures are dropped at once

        add_default_schedule(
            DefaultSchedule(
                name="Collect metrics",
                task="metrics.sweep",
                every_seconds=5,
                expire_seconds=5,
                description="Reads CPU, memory, network and disk I/O of every running container (interval: "
                "Settings → Metrics).",
            )
        )
        add_default_schedule(
            DefaultSchedule(
                name="Roll up metric history",
                task="metrics.rollup",
                every_seconds=60,
                expire_seconds=60,
                description="Fills the coarser history tiers from the finer ones and deletes what is past retention.",
            )
        )
