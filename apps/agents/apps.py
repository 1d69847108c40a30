from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "apps.agents"
    label = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        from apps.agents import receivers  # noqa: F401 - a deleted host's agent is disconnected at once
        from apps.core.schedules import DefaultSchedule, add_default_schedule
        from apps.hosts.engines import ENGINES

        ENGINES["agent"] = "apps.agents.engine.AgentEngine"
        add_default_schedule(
            DefaultSchedule(
                name="Check agent heartbeats",
                task="agents.mark_silent_offline",
                every_seconds=15,
                description="Marks agent hosts offline after two missed heartbeats.",
            )
        )
