from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.core.audit import record
from apps.tags.models import Tag
from apps.tags.services import tags_changed
from apps.users.access import capability_required
from apps.users.capabilities import Capability


class TagColourForm(forms.ModelForm):
    class Meta:
        model = Tag
        fields = ["colour"]


def tag_list(request: HttpRequest) -> HttpResponse:
    tags = Tag.objects.annotate(
        container_count=Count("containers", distinct=True), host_count=Count("hosts", distinct=True)
    )
    return render(request, "tags/tag_list.html", {"tags": tags, "colours": Tag.Colour.choices})


@capability_required(Capability.CONTAINERS_OPERATE)
@require_POST
def tag_edit(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(Tag, pk=pk)
    old = tag.colour
    form = TagColourForm(request.POST, instance=tag)
    if form.is_valid() and form.cleaned_data["colour"] != old:
        form.save()
        tags_changed()
        record(request.user, "tags.change", tag, details={"colour": {"from": old, "to": tag.colour}}, request=request)
    return render(request, "tags/widgets/tag_row.html", {"tag": tag, "colours": Tag.Colour.choices})


@capability_required(Capability.CONTAINERS_OPERATE)
@require_POST
def tag_delete(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(Tag, pk=pk)
    record(request.user, "tags.delete", tag, request=request)
    tag.delete()
    tags_changed()
    messages.success(request, f"Tag {tag.name} deleted from every container and host.")
    return redirect("tags:list")
