import pytest

from apps.alerts.models import AlertRule
from apps.alerts.scope import container_scope, describe_scope, enabled_rules, host_in_scope, matching_containers
from apps.containers.models import Container, ContainerTag
from apps.hosts.models import Host
from apps.notifications.models import Channel
from apps.tags.models import Tag

pytestmark = pytest.mark.django_db
Kind = AlertRule.Kind


@pytest.fixture
def world():
    """Two hosts (prod tagged "prod"), containers with labels, tags and desired states."""
    prod = Host.objects.create(name="prod", kind=Host.Kind.SOCKET, url="unix:///a.sock")
    lab = Host.objects.create(name="lab", kind=Host.Kind.TLS, url="tcp://lab:2376")
    prod_tag, critical = Tag.objects.create(name="prod"), Tag.objects.create(name="critical")
    prod.tags.add(prod_tag)

    def make(host, name, *, labels=None, tags=(), desired=Container.DesiredState.SHOULD_RUN, state="running"):
        container = Container.objects.create(
            host=host,
            name=name,
            docker_id=f"{host.pk}{name}".ljust(64, "0"),
            state=state,
            labels=labels or {},
            desired_state=desired,
        )
        container.tags.add(*tags)
        return container

    containers = {
        "web-1": make(prod, "web-1", labels={"app": "web", "tier": "front"}, tags=[critical]),
        "web-2": make(prod, "web-2", labels={"app": "web"}),
        "db": make(prod, "db", labels={"app": "db", "backup": ""}, tags=[critical]),
        "Web-3": make(lab, "Web-3", labels={"app": "web"}),
        "batch": make(lab, "batch", desired=Container.DesiredState.ON_DEMAND),
        "gone": make(lab, "web-gone", state=Container.State.REMOVED),
    }
    return {"prod": prod, "lab": lab, "prod_tag": prod_tag, "critical": critical, **containers}


def rule(**fields) -> AlertRule:
    fields.setdefault("name", "r")
    fields.setdefault("kind", Kind.CONTAINER_STOPPED)
    return AlertRule.objects.create(**fields)


def names(rule_: AlertRule) -> set[str]:
    return {container.name for container in matching_containers(rule_)}


def test_empty_scope_matches_every_container_but_removed_ones(world):
    assert names(rule()) == {"web-1", "web-2", "db", "Web-3", "batch"}
    assert describe_scope(rule(name="all")) == ["Every container on every host."]
    assert container_scope(rule(name="x"))(world["gone"])  # the scope itself does not judge state


def test_name_match_exact_glob_regex(world):
    assert names(rule(name_pattern="web-1", name_match="exact")) == {"web-1"}
    assert names(rule(name="g", name_pattern="web-*", name_match="glob")) == {"web-1", "web-2"}  # case-sensitive
    assert names(rule(name="g2", name_pattern="[Ww]eb-?", name_match="glob")) == {"web-1", "web-2", "Web-3"}
    # Regexes are searched anywhere in the name; anchors make them strict.
    assert names(rule(name="re", name_pattern="eb-[23]", name_match="regex")) == {"web-2", "Web-3"}
    assert names(rule(name="re2", name_pattern="^web-\\d$", name_match="regex")) == {"web-1", "web-2"}


def test_a_regex_that_does_not_compile_matches_nothing(world):
    assert names(rule(name_pattern="web-(", name_match="regex")) == set()


def test_labels_key_value_and_key_only(world):
    assert names(rule(labels="app=web")) == {"web-1", "web-2", "Web-3"}
    assert names(rule(name="two", labels="app=web\ntier=front\n")) == {"web-1"}
    assert names(rule(name="key", labels="backup")) == {"db"}
    assert names(rule(name="bad", labels="=web")) == set()


def test_exclusions_are_globs(world):
    assert names(rule(exclude_names="web-*\n  \nbatch")) == {"db", "Web-3"}


def test_hosts_and_host_tags(world):
    r = rule()
    r.hosts.add(world["lab"])
    assert names(r) == {"Web-3", "batch"}
    tagged = rule(name="tagged")
    tagged.host_tags.add(world["prod_tag"])
    assert names(tagged) == {"web-1", "web-2", "db"}
    both = rule(name="both")  # every filter that is set must match
    both.hosts.add(world["lab"])
    both.host_tags.add(world["prod_tag"])
    assert names(both) == set()


def test_container_tags_any_of_them(world):
    r = rule()
    r.container_tags.add(world["critical"])
    assert names(r) == {"web-1", "db"}
    assert describe_scope(r) == ["Containers tagged critical."]


def test_desired_state(world):
    assert names(rule(desired_state="on_demand")) == {"batch"}
    assert names(rule(name="run", desired_state="should_run")) == {"web-1", "web-2", "db", "Web-3"}


def test_combination_and_its_description(world):
    r = rule(name_pattern="*-*", labels="app=web", exclude_names="web-2", desired_state="should_run")
    r.host_tags.add(world["prod_tag"])
    r.container_tags.add(world["critical"])
    assert names(r) == {"web-1"}
    assert describe_scope(r) == [
        "On hosts tagged prod.",
        "Containers tagged critical.",
        "Containers with names matching “*-*”.",
        "With label app=web.",
        "Except web-2.",
        "Only containers whose desired state is “should run”.",
    ]


def test_host_in_scope(world):
    r = rule(kind=Kind.HOST_OFFLINE)
    assert host_in_scope(r, world["prod"]) and host_in_scope(r, world["lab"])
    r.host_tags.add(world["prod_tag"])
    assert host_in_scope(r, world["prod"]) and not host_in_scope(r, world["lab"])
    r.host_tags.clear()
    r.hosts.add(world["lab"])
    assert not host_in_scope(r, world["prod"]) and host_in_scope(r, world["lab"])
    assert describe_scope(r) == ["On host lab."]


def test_enabled_rules_prefetch_their_relations(world, django_assert_num_queries):
    channel = Channel.objects.create(name="ops", kind="json", config="{}")
    r = rule(kind=Kind.CONTAINER_CPU)
    r.channels.add(channel)
    r.hosts.add(world["prod"])
    rule(name="off", kind=Kind.CONTAINER_CPU, enabled=False)
    rule(name="other", kind=Kind.HOST_OFFLINE)
    with django_assert_num_queries(5):
        rules = enabled_rules([Kind.CONTAINER_CPU, Kind.CONTAINER_MEMORY])
    with django_assert_num_queries(0):
        assert [x.name for x in rules] == ["r"]
        assert [c.name for c in rules[0].channels.all()] == ["ops"]
        assert host_in_scope(rules[0], world["prod"]) is True


def test_judging_many_containers_costs_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    host = world["prod"]
    Container.objects.bulk_create(
        Container(host=host, name=f"svc-{i}", docker_id=f"{i:064d}", state="running", labels={"app": "svc"})
        for i in range(150)
    )
    many = list(Container.objects.filter(name__startswith="svc-"))
    ContainerTag.objects.bulk_create(ContainerTag(container=c, tag=world["critical"]) for c in many[::2])
    for kind in (Kind.CONTAINER_CPU, Kind.CONTAINER_MEMORY, Kind.CONTAINER_STOPPED):
        r = rule(name=kind, kind=kind, name_pattern="svc-*", labels="app=svc")
        r.host_tags.add(world["prod_tag"])
        r.container_tags.add(world["critical"])
    # Three rules of every filter kind against 150 containers: 5 queries to load the rules, 2 per rule.
    with django_assert_max_num_queries(5 + 3 * 2):
        rules = enabled_rules([Kind.CONTAINER_CPU, Kind.CONTAINER_MEMORY, Kind.CONTAINER_STOPPED])
        matched = {r.name: sum(map(container_scope(r), many)) for r in rules}
    assert matched == {Kind.CONTAINER_CPU: 75, Kind.CONTAINER_MEMORY: 75, Kind.CONTAINER_STOPPED: 75}
