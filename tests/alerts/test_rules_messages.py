import pytest

from apps.alerts.messages import (
    DEFAULT_BODIES,
    DEFAULT_TITLES,
    KIND_VARIABLES,
    SAMPLE_VARIABLES,
    VARIABLES,
    container_url,
    format_duration,
    host_url,
    render_message,
    validate_template,
)
from apps.alerts.models import AlertRule
from apps.containers.models import Container
from apps.hosts.models import Host
from tests.fixtures import refusal


def rule(kind=AlertRule.Kind.CONTAINER_STOPPED, **fields) -> AlertRule:
    return AlertRule(name="Web died", kind=kind, severity="error", **fields)


def test_default_stopped_message_names_container_host_and_exit_code():
    title, body = render_message(
        rule(),
        {
            "container": "web",
            "host": "prod",
            "exit_code": 1,
            "exit_codes": [1, 1, 137],
            "log_tail": "booting\npanic: no db",
            "image": "app:2",
            "state": "exited",
            "url": "http://dockmon.example/containers/4/",
        },
    )
    assert title == "web on prod exited with code 1"
    assert "Last exit codes: 1, 1, 137" in body
    assert "panic: no db" in body
    assert body.endswith("http://dockmon.example/containers/4/")


@pytest.mark.parametrize("kind", AlertRule.Kind.values)
def test_every_kind_has_valid_defaults_using_its_own_variables(kind):
    for template in (DEFAULT_TITLES[kind], DEFAULT_BODIES[kind]):
        validate_template(template)
    title, body = render_message(rule(kind), SAMPLE_VARIABLES)
    assert title and body and "{" not in title + body
    used = {name for name in VARIABLES if "{" + name + "}" in DEFAULT_TITLES[kind] + DEFAULT_BODIES[kind]}
    assert used <= set(KIND_VARIABLES[kind]) | {"rule", "severity", "host", "url", "time"}


def test_missing_and_empty_values_render_as_a_dash_and_floats_are_short():
    title, body = render_message(
        rule(AlertRule.Kind.HOST_CPU), {"host": "prod", "value": 93.44, "threshold": 80.0, "top_containers": None}
    )
    assert title == "prod: CPU 93.4% (above 80%)"
    assert "Top containers:\n—" in body
    assert "for —" in body


def test_custom_templates_and_rule_variables():
    custom = rule(title_template="[{severity}] {rule}: {container}", body_template="{{literal}} {container}")
    assert render_message(custom, {"container": "web"}) == ("[Error] Web died: web", "{literal} web")


def test_a_stored_template_that_is_not_valid_falls_back_to_the_default():
    broken = rule(title_template="{container.__class__}", body_template="{nope")
    title, body = render_message(broken, {"container": "web", "host": "prod", "exit_code": 2})
    assert title == "web on prod exited with code 2"
    assert body.startswith("web on prod stopped with exit code 2")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{container} {colour} {size}", "Unknown variables {colour}, {size}. Known: rule, severity, container"),
        ("{conatiner}", "Unknown variable {conatiner}."),
        ("{container.__class__}", "{container.__class__} is not a plain variable name"),
        ("{container.__class__.__init__.__globals__}", "is not a plain variable name"),
        ("{host[0]}", "{host[0]} is not a plain variable name"),
        ("{0}", "{0} is not a plain variable name"),
        ("{}", "{} is not a plain variable name"),
        ("{value:>999999999}", "may not carry a format"),
        ("{value!r}", "may not carry a format"),
        ("{container", "stray brace"),
        ("container}", "stray brace"),
    ],
)
def test_templates_refused_with_a_reason(template, message):
    assert message in refusal(validate_template, template)


def test_attribute_access_is_never_rendered():
    title, _ = render_message(rule(title_template="x"), {"container": "web"})
    assert title == "x"
    # Even a mapping value that is an object is only ever turned into its text.
    title, _ = render_message(rule(title_template="{container}"), {"container": Container(name="web")})
    assert title == "web"


@pytest.mark.django_db
def test_links_use_the_external_url(settings):
    settings.EXTERNAL_URL = "https://dockmon.example.org/"
    host = Host.objects.create(name="prod", kind=Host.Kind.SOCKET, url="unix:///x.sock")
    container = Container.objects.create(host=host, name="web", docker_id="a" * 64, state="running")
    assert container_url(container) == f"https://dockmon.example.org/containers/{container.pk}/"
    assert host_url(host) == f"https://dockmon.example.org/hosts/{host.pk}/"


def test_durations_read_well():
    assert [format_duration(s) for s in (None, 45, 300, 3600, 5400, 86400, 97200)] == [
        "—",
        "45 s",
        "5 min",
        "1 h",
        "1 h 30 min",
        "1 d",
        "1 d 3 h",
    ]
