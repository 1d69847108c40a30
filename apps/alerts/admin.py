from django.contrib import admin

from apps.alerts.models import Alert, AlertComment, AlertRule, AlertSettings


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "severity", "enabled", "cooldown_seconds"]
    list_filter = ["kind", "severity", "enabled"]
    search_fields = ["name", "description"]
    filter_horizontal = ["hosts", "host_tags", "container_tags", "channels"]


class AlertCommentInline(admin.TabularInline):
    model = AlertComment
    extra = 0
    readonly_fields = ["author_name", "text", "created_at"]
    exclude = ["author"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    # Alerts change through their page (acknowledge, snooze, resolve), which notifies and audits: read only here.
    list_display = ["fired_at", "title", "rule_name", "state", "severity", "occurrences", "resolved_at"]
    list_filter = ["state", "severity", "kind"]
    search_fields = ["title", "target_name", "rule_name", "host_name"]
    raw_id_fields = ["rule", "container", "host", "acknowledged_by", "resolved_by"]
    inlines = [AlertCommentInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AlertSettings)
class AlertSettingsAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
