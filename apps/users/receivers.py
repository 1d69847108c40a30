"""Sign-in activity into the audit trail. Django and allauth only announce these
through signals, so the receivers stay one line each."""

from allauth.account.signals import password_changed, password_reset
from allauth.mfa.signals import authentication_failed as mfa_authentication_failed
from allauth.mfa.signals import authenticator_added, authenticator_removed
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from apps.core.audit import record
from apps.core.models import Event


@receiver(user_logged_in, dispatch_uid="audit.login")
def _logged_in(sender, request, user, **kwargs) -> None:
    record(user, "auth.login", user, request=request)


@receiver(user_logged_out, dispatch_uid="audit.logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        record(user, "auth.logout", user, request=request)


@receiver(user_login_failed, dispatch_uid="audit.login_failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    attempted = credentials.get("username") or credentials.get("email") or ""
    target = get_user_model().objects.filter(username__iexact=attempted).first() if attempted else None
    record(
        Event.ActorKind.ANONYMOUS,
        "auth.login_failed",
        target,
        severity=Event.Severity.WARNING,
        details={"username": attempted},
        request=request,
    )


@receiver(password_changed, dispatch_uid="audit.password_changed")
def _password_changed(sender, request, user, **kwargs) -> None:
    record(user, "auth.password_change", user, request=request)


@receiver(password_reset, dispatch_uid="audit.password_reset")
def _password_reset(sender, request, user, **kwargs) -> None:
    record(user, "auth.password_reset", user, request=request)


@receiver(authenticator_added, dispatch_uid="audit.mfa_added")
def _mfa_added(sender, request, user, authenticator, **kwargs) -> None:
    record(user, "auth.mfa_enable", user, details={"type": authenticator.type}, request=request)


@receiver(authenticator_removed, dispatch_uid="audit.mfa_removed")
def _mfa_removed(sender, request, user, authenticator, **kwargs) -> None:
    record(
        user,
        "auth.mfa_disable",
        user,
        severity=Event.Severity.WARNING,
        details={"type": authenticator.type},
        request=request,
    )


@receiver(mfa_authentication_failed, dispatch_uid="audit.mfa_failed")
def _mfa_failed(sender, request, user, authenticator, **kwargs) -> None:
    record(
        Event.ActorKind.ANONYMOUS,
        "auth.mfa_failed",
        user,
        severity=Event.Severity.WARNING,
        details={"type": authenticator.type},
        request=request,
    )
