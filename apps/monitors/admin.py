from django.contrib import admin

from apps.monitors.models import CheckResult, HealthCheck


@admin.register(HealthCheck)
class HealthCheckAdmin(admin.ModelAdmin):
    # The auth secret is never shown; checks are edited on their container's page, whose form validates URLs.
    exclude = ["auth_secret"]
    list_display = ["url", "container", "method", "interval_seconds", "status", "enabled", "from_label"]
    list_filter = ["status", "enabled", "from_label", "restart_on_unhealthy"]
    search_fields = ["url", "container__name"]
    raw_id_fields = ["container"]
    readonly_fields = [
        "status", "status_changed_at", "consecutive_failures", "consecutive_successes", "last_checked_at",
        "last_response_ms", "last_status_code", "last_error", "restarts_in_episode", "next_restart_at",
    ]  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(CheckResult)
class CheckResultAdmin(admin.ModelAdmin):
    list_display = ["checked_at", "health_check", "ok", "status_code", "response_ms", "error"]
    list_filter = ["ok"]
    raw_id_fields = ["health_check"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
