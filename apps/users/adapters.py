"""allauth hooks: closed sign-up, audited lock-outs, encrypted TOTP secrets."""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from django.core.exceptions import ValidationError
from django.core.mail.backends.base import BaseEmailBackend
from django.http import HttpRequest
from encrypted_model_fields.fields import decrypt_str, encrypt_str

from apps.core.audit import record
from apps.core.models import Event

logger = logging.getLogger(__name__)


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Admins create users on the Users page; nobody signs themselves up.
        return False

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            record(
                Event.ActorKind.ANONYMOUS,
                "auth.login_blocked",
                severity=Event.Severity.WARNING,
                details={"username": credentials.get("username") or credentials.get("email") or ""},
                request=request,
            )
            raise


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets are stored encrypted with the field-encryption key, like every other secret."""

    def encrypt(self, text: str) -> str:
        return encrypt_str(text).decode()

    def decrypt(self, encrypted_text: str) -> str:
        return decrypt_str(encrypted_text)


class UnconfiguredEmailBackend(BaseEmailBackend):
    """Used while no SMTP server is configured: drops messages (never logs their
    content, which may hold a reset link) and says so once per message."""

    def send_messages(self, email_messages: list) -> int:
        for message in email_messages:
            logger.warning("E-mail to %s not sent: set DOCKMON_EMAIL_HOST to enable e-mail.", ", ".join(message.to))
        return 0
