from django.contrib import admin

from apps.notifications.models import Channel, Delivery
from apps.notifications.services import channel_summary


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    # The configuration holds tokens and passwords: never shown here; channels are edited on their pages.
    exclude = ["config"]
    list_display = ["name", "kind", "summary", "enabled", "consecutive_failures", "last_success_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["kind", "summary", "last_success_at", "last_failure_at", "last_error", "consecutive_failures"]

    def has_add_permission(self, request) -> bool:
        # A channel needs its kind's guided form (Notifications → Add channel).
        return False

    @admin.display(description="Settings")
    def summary(self, channel: Channel) -> str:
        return channel_summary(channel)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "channel_name", "rule_name", "alert_id", "kind", "status", "attempts"]
    list_filter = ["status", "kind"]
    search_fields = ["channel_name", "rule_name", "title"]
    raw_id_fields = ["channel"]
