"""Start-up chores for `make run` and the container entrypoint, run after `migrate`: create the
first admin from DOCKMON_ADMIN_USER / DOCKMON_ADMIN_PASSWORD when no user exists, and at first
start add this machine's Docker socket as a host."""

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.hosts.services import local_host_offer
from apps.users.models import User
from apps.users.services import first_admin_create


class Command(BaseCommand):
    help = "Create the first admin from the environment, and offer the local Docker socket as a host."

    def handle(self, *args, **options) -> None:
        self._admin_from_environment()
        host = local_host_offer()
        if host is not None:
            self.stdout.write(f"Added this machine's Docker socket as the host “{host.name}” ({host.url}).")

    def _admin_from_environment(self) -> None:
        if not settings.ADMIN_USER:
            if not User.objects.exists():
                self.stdout.write("No user yet: open DockMon in a browser to create the first admin.")
            return
        if not settings.ADMIN_PASSWORD:
            raise CommandError("DOCKMON_ADMIN_USER is set but DOCKMON_ADMIN_PASSWORD is not.")
        try:
            validate_password(settings.ADMIN_PASSWORD, User(username=settings.ADMIN_USER))
        except ValidationError as error:
            raise CommandError("DOCKMON_ADMIN_PASSWORD is too weak: " + " ".join(error.messages)) from error
        user = first_admin_create(
            username=settings.ADMIN_USER, password=settings.ADMIN_PASSWORD, email=settings.ADMIN_EMAIL
        )
        if user:
            self.stdout.write(f"Created the first admin “{user.username}” from DOCKMON_ADMIN_USER.")
