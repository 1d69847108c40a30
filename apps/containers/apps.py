from django.apps import AppConfig


class ContainersConfig(AppConfig):
    name = "apps.containers"
    label = "containers"
    verbose_name = "Containers"

    def ready(self) -> None:
        from apps.core.live import Watchable, register_watchable
        from apps.core.schedules import DefaultSchedule, add_default_schedule

        register_watchable("containers", Watchable())
        register_watchable("containers-new", Watchable())
        register_watchable("container", Watchable())
        register_watchable("job", Watchable(allows=_may_watch_job))
        add_default_schedule(
            DefaultSchedule(
                name="Poll Docker hosts",
                task="containers.poll_due_hosts",
                every_seconds=10,
                description="Checks hosts that are due (online ones every 30 s, unreachable ones with back-off) "
                "and reconciles their containers.",
            )
        )


def _may_watch_job(user, job_pk: int) -> bool:
    from apps.containers.models import BulkJob
    from apps.users.access import has_capability
    from apps.users.capabilities import Capability

    job = BulkJob.objects.filter(pk=job_pk).values_list("user_id", flat=True).first()
    return job == user.pk or has_capability(user, Capability.USERS_MANAGE)
