from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import UsernameField

from apps.users.capabilities import ROLES, Role
from apps.users.models import User

ROLE_CHOICES = [(role.value, f"{role.group_name} — {info.description}") for role, info in ROLES.items()]


class NewPasswordMixin(forms.Form):
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean_password2(self) -> str:
        first, second = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if first and second and first != second:
            raise forms.ValidationError("The two passwords differ.")
        return second

    def _post_clean_password(self, user: User) -> None:
        password = self.cleaned_data.get("password2")
        if password:
            try:
                password_validation.validate_password(password, user)
            except forms.ValidationError as error:
                self.add_error("password1", error)


class UserCreateForm(NewPasswordMixin, forms.Form):
    username = UsernameField(max_length=150)
    email = forms.EmailField(required=False, help_text="Needed for password reset by e-mail.")
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial=Role.VIEWER.value, widget=forms.RadioSelect)

    field_order = ["username", "email", "role", "password1", "password2"]

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with this name already exists.")
        return username

    def clean(self) -> dict:
        data = super().clean()
        self._post_clean_password(User(username=data.get("username", ""), email=data.get("email", "")))
        return data


class FirstAdminForm(UserCreateForm):
    role = None
    field_order = ["username", "email", "password1", "password2"]


class UserUpdateForm(forms.Form):
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=ROLE_CHOICES, widget=forms.RadioSelect)
    is_active = forms.BooleanField(required=False, label="Active (may sign in)")


class ThemeForm(forms.Form):
    theme = forms.ChoiceField(choices=User.Theme.choices)
