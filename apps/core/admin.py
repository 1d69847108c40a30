from django.contrib import admin

from apps.core.models import AppSettings, Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The audit trail is append-only: readable here, never edited."""

    list_display = ("timestamp", "actor_name", "category", "action", "severity", "target_name", "host_name")
    list_filter = ("category", "severity", "actor_kind", "timestamp")
    search_fields = ("actor_name", "action", "target_name", "host_name", "message")
    date_hierarchy = "timestamp"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AppSettings)
class AppSettingsAdmin(admin.ModelAdmin):
    list_display = ("instance_name", "event_retention_days", "updated_at")
    search_fields = ("instance_name",)

    def has_add_permission(self, request) -> bool:
        return not AppSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
