from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.users import services
from apps.users.access import capability_required
from apps.users.capabilities import ROLES, Capability, Role
from apps.users.forms import FirstAdminForm, ThemeForm, UserCreateForm, UserUpdateForm
from apps.users.models import User


@login_not_required
def setup(request: HttpRequest) -> HttpResponse:
    """First run: create the first admin, then sign them in."""
    if User.objects.exists():
        return redirect("account_login")
    form = FirstAdminForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.first_admin_create(
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password1"],
            email=form.cleaned_data["email"],
            request=request,
        )
        if user is None:  # someone else finished setup a moment ago
            messages.info(request, "Setup is already done; sign in.")
            return redirect("account_login")
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}. DockMon is ready; add your first host next.")
        return redirect("core:dashboard")
    return render(request, "users/setup.html", {"form": form})


@require_POST
def theme(request: HttpRequest) -> HttpResponse:
    form = ThemeForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Unknown theme.", status=400)
    request.user.theme = form.cleaned_data["theme"]
    request.user.save(update_fields=["theme"])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Trigger"] = json.dumps({"dockmon:theme": request.user.theme})
        return response
    back = request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "core:dashboard"
    return redirect(back)


@capability_required(Capability.USERS_MANAGE)
def user_list(request: HttpRequest) -> HttpResponse:
    users = User.objects.prefetch_related("groups", "authenticator_set")
    roles = [(role.group_name, info.description) for role, info in ROLES.items()]
    return render(request, "users/user_list.html", {"users": users, "roles": roles})


@capability_required(Capability.USERS_MANAGE)
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.user_create(
            actor=request.user,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password1"],
            role=Role(form.cleaned_data["role"]),
            email=form.cleaned_data["email"],
            request=request,
        )
        messages.success(request, f"User {user.username} created as {user.role.group_name}.")
        return redirect("users:list")
    return render(request, "users/user_form.html", {"form": form})


def _update_form(user: User, data: dict | None = None) -> UserUpdateForm:
    initial = {"email": user.email, "role": user.role.value if user.role else "", "is_active": user.is_active}
    return UserUpdateForm(data, initial=initial)


@capability_required(Capability.USERS_MANAGE)
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    form = _update_form(user, request.POST or None)
    password_form = SetPasswordForm(user)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(
                actor=request.user,
                user=user,
                email=form.cleaned_data["email"],
                role=Role(form.cleaned_data["role"]),
                is_active=form.cleaned_data["is_active"],
                request=request,
            )
        except services.UserChangeRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, f"User {user.username} saved.")
            return redirect("users:list")
    return render(request, "users/user_edit.html", {"subject": user, "form": form, "password_form": password_form})


@capability_required(Capability.USERS_MANAGE)
@require_POST
def user_set_password(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    password_form = SetPasswordForm(user, request.POST)
    if password_form.is_valid():
        services.user_set_password(
            actor=request.user, user=user, password=password_form.cleaned_data["new_password1"], request=request
        )
        messages.success(request, f"New password set for {user.username}.")
        return redirect("users:edit", pk=user.pk)
    context = {"subject": user, "form": _update_form(user), "password_form": password_form}
    return render(request, "users/user_edit.html", context, status=400)


@capability_required(Capability.USERS_MANAGE)
@require_POST
def user_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    try:
        services.user_delete(actor=request.user, user=user, request=request)
    except services.UserChangeRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("users:edit", pk=user.pk)
    messages.success(request, f"User {user.username} deleted.")
    return redirect("users:list")
