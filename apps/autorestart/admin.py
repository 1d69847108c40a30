from django.contrib import admin

from apps.autorestart.models import AutoRestartSettings, RestartPolicy


@admin.register(RestartPolicy)
class RestartPolicyAdmin(admin.ModelAdmin):
    list_display = ["container", "enabled", "max_attempts", "attempts", "next_attempt_at", "gave_up_at"]
    list_filter = ["enabled"]
    search_fields = ["container__name"]
    raw_id_fields = ["container"]
    # The episode's state belongs to auto-restart itself; only the policy is for people to change.
    readonly_fields = ["attempts", "exit_codes", "last_exit_at", "last_attempt_at", "next_attempt_at", "gave_up_at",
                       "last_error", "held_since"]  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AutoRestartSettings)
class AutoRestartSettingsAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
