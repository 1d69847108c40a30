from __future__ import annotations

import re

from django import forms

from apps.containers.models import BulkJob, Container
from apps.containers.selectors import PROBLEM_CHOICES, SORTS, ContainerFilters

# Docker's rule for container names.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
SORT_CHOICES = [(key, key) for key in SORTS] + [(f"-{key}", f"-{key}") for key in SORTS]


class ContainerFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    host = forms.ChoiceField(required=False)
    state = forms.ChoiceField(required=False)
    tag = forms.ChoiceField(required=False)
    project = forms.ChoiceField(required=False, label="Compose project")
    problem = forms.ChoiceField(required=False, label="Needs attention", choices=PROBLEM_CHOICES)
    show_removed = forms.BooleanField(required=False, label="Show removed")
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)

    def __init__(self, data: dict | None, *, choices: dict) -> None:
        super().__init__(data)
        self.fields["host"].choices = [("", "All hosts"), *((str(pk), name) for pk, name in choices["hosts"])]
        self.fields["state"].choices = [("", "Any state"), *choices["states"]]
        self.fields["tag"].choices = [("", "Any tag"), *((name, name) for name, _ in choices["tags"])]
        self.fields["project"].choices = [("", "Any project"), *((p, p) for p in choices["projects"])]
        self.fields["q"].widget.attrs.update(placeholder="name, image, label…", type="search")

    def filters(self) -> ContainerFilters:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return ContainerFilters(
            host=int(data["host"]) if data.get("host") else None,
            state=data.get("state", ""),
            tag=data.get("tag", ""),
            project=data.get("project", ""),
            q=data.get("q", "").strip(),
            show_removed=data.get("show_removed", False),
            problem=data.get("problem", ""),
        )


class RenameForm(forms.Form):
    name = forms.CharField(max_length=255, label="New name")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip().lstrip("/")
        if not NAME_PATTERN.match(name):
            raise forms.ValidationError(
                "Use letters, digits, dots, dashes and underscores, starting with a letter or digit."
            )
        return name


class RemoveForm(forms.Form):
    remove_volumes = forms.BooleanField(required=False, label="Also remove its anonymous volumes")


class TagForm(forms.Form):
    name = forms.CharField(max_length=64, label="Tag")


class DesiredStateForm(forms.Form):
    desired_state = forms.ChoiceField(choices=Container.DesiredState.choices)


class BulkForm(forms.Form):
    containers = forms.ModelMultipleChoiceField(queryset=Container.objects.exclude(state=Container.State.REMOVED))
    action = forms.ChoiceField(choices=BulkJob.Action.choices)
    tag = forms.CharField(required=False, max_length=64)
    desired_state = forms.ChoiceField(required=False, choices=[("", "—"), *Container.DesiredState.choices])
    remove_volumes = forms.BooleanField(required=False)

    def clean(self) -> dict:
        data = super().clean()
        action = data.get("action")
        if action in ("tag_add", "tag_remove") and not data.get("tag", "").strip():
            self.add_error("tag", "Name the tag to add or remove.")
        if action == "desired_state" and not data.get("desired_state"):
            self.add_error("desired_state", "Choose the desired state.")
        return data

    def params(self) -> dict:
        action = self.cleaned_data["action"]
        if action in ("tag_add", "tag_remove"):
            return {"tag": self.cleaned_data["tag"].strip()}
        if action == "desired_state":
            return {"desired_state": self.cleaned_data["desired_state"]}
        if action == "remove":
            return {"remove_volumes": self.cleaned_data["remove_volumes"]}
        return {}
