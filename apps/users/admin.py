from allauth.mfa.admin import AuthenticatorAdmin as AllauthAuthenticatorAdmin
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from apps.users.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "role_name", "is_active", "last_login", "date_joined")
    list_filter = ("is_active", "is_superuser", "groups", "theme")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("DockMon", {"fields": ("theme", "preferences")}))

    @admin.display(description="role")
    def role_name(self, user: User) -> str:
        return user.role.group_name if user.role else "—"


admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(AllauthAuthenticatorAdmin):
    # `data` holds the (encrypted) TOTP secret and recovery-code seed: never show it.
    exclude = ("data",)
    search_fields = ("user__username",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
