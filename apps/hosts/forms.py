from __future__ import annotations

from django import forms

from apps.hosts import tls
from apps.hosts.models import Host
from apps.tags.services import normalise

PEM_FIELDS = ("tls_ca", "tls_cert", "tls_key")
PEM_LABELS = {"tls_ca": "CA certificate", "tls_cert": "Client certificate", "tls_key": "Client key"}
SCHEMES = {Host.Kind.SOCKET: ("unix://",), Host.Kind.TLS: ("tcp://",)}


class PemField(forms.CharField):
    """Pasted PEM text, or an uploaded file through the matching `<name>_file` field."""

    widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off", "class": "mono"})

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, strip=True, **kwargs)


class HostForm(forms.ModelForm):
    """Add or change a host. TLS material is never shown back: empty fields on an existing host keep
    what is stored, so an edit that only renames the host needs no certificates."""

    tags_text = forms.CharField(required=False, label="Tags", help_text="Comma separated, e.g. prod, eu-west")
    tls_ca = PemField(label="CA certificate")
    tls_cert = PemField(label="Client certificate")
    tls_key = PemField(label="Client key")
    tls_ca_file = forms.FileField(required=False, label="…or upload the CA certificate")
    tls_cert_file = forms.FileField(required=False, label="…or upload the client certificate")
    tls_key_file = forms.FileField(required=False, label="…or upload the client key")
    save_unreachable = forms.BooleanField(required=False, label="Save even if it does not answer now")

    class Meta:
        model = Host
        fields = ["name", "kind", "url", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2}), "kind": forms.RadioSelect}
        labels = {"url": "URL"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # An agent dials in, so its host has no address; the others need one.
        self.fields["url"].required = False
        self.tls_facts: tls.TlsFacts | None = None
        self.pem: dict[str, str] = {}
        if self.instance.pk:
            self.fields["tags_text"].initial = ", ".join(t.name for t in self.instance.tags.all())
            for name in PEM_FIELDS:
                self.fields[name].help_text = "Stored encrypted. Leave empty to keep the current one."

    def _pem(self, name: str) -> str:
        upload = self.cleaned_data.get(f"{name}_file")
        if upload:
            try:
                return upload.read().decode("ascii").strip()
            except UnicodeDecodeError:
                self.add_error(f"{name}_file", "This file is not PEM text.")
                return ""
        return self.cleaned_data.get(name, "")

    def clean_tags_text(self) -> list[str]:
        names = [normalise(part) for part in self.cleaned_data["tags_text"].split(",")]
        return sorted({name for name in names if name})

    def clean(self) -> dict:
        data = super().clean()
        kind, url = data.get("kind"), (data.get("url") or "").strip()
        if kind == Host.Kind.AGENT:
            data["url"] = ""
            return data
        if kind and not url:
            self.add_error("url", "DockMon needs the daemon's address.")
        elif kind and not url.startswith(SCHEMES[kind]):
            expected = " or ".join(SCHEMES[kind])
            self.add_error("url", f"A {Host.Kind(kind).label.lower()} URL starts with {expected}")
        if kind == Host.Kind.TLS:
            self._clean_tls()
        return data

    def _clean_tls(self) -> None:
        given = {name: self._pem(name) for name in PEM_FIELDS}
        if not any(given.values()) and self.instance.pk and self.instance.kind == Host.Kind.TLS:
            # Nothing new pasted: keep the stored material, still checked by "Test connection".
            given = {name: getattr(self.instance, name) for name in PEM_FIELDS}
        missing = [name for name, value in given.items() if not value]
        for name in missing:
            self.add_error(name, f"A TLS host needs its {PEM_LABELS[name].lower()}.")
        if missing:
            return
        try:
            self.tls_facts = tls.validate_material(
                ca_pem=given["tls_ca"], cert_pem=given["tls_cert"], key_pem=given["tls_key"]
            )
        except tls.TlsMaterialError as problem:
            self.add_error(problem.field, str(problem))
            return
        self.pem = given

    def save(self, commit: bool = True) -> Host:
        host = super().save(commit=False)
        for name in PEM_FIELDS:
            setattr(host, name, self.pem.get(name, "") if host.kind == Host.Kind.TLS else "")
        if commit:
            host.save()
        return host

    def changed_fields(self) -> list[str]:
        """Names of what changed, for the audit trail (an upload counts as its PEM field)."""
        names = {name.removesuffix("_file").replace("tags_text", "tags") for name in self.changed_data}
        return sorted(names - {"save_unreachable"})
