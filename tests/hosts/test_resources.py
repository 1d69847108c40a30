"""The host page's Images / Networks / Volumes tabs, against the real local daemon.

Every Docker object a test touches is its own: networks and volumes carry the test's labels (the plugin's cleanup
removes leftovers), the image is the test image under a per-test tag that the `own_image` fixture untags again.

Prune is daemon-wide by design (it is what the button promises), but this daemon is shared with other test
sessions and their not-yet-used networks, volumes and dangling images. So every test that POSTs to a prune URL
uses `labelled_prune`, which narrows the engine's prunes to the test's labels (a filter the engine supports);
views, services, audit and toasts run unchanged. Without it, a prune here could delete another session's volume
between its creation and its first container (and its data), or its dangling image before it asserts on it.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partialmethod

import pytest
from docker.client import DockerClient
from docker.errors import NotFound as DockerNotFound

from apps.core.models import Event
from apps.hosts.models import Host
from dockmon_agent.engine.docker_api import SocketEngine

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
KINDS = ("images", "networks", "volumes")


def row_of(page: str, text: str) -> str:
    """The table row of `page` that mentions `text`."""
    rows = [row for row in re.findall(r"<tr>.*?</tr>", page, re.S) if text in row]
    assert len(rows) == 1, f"{len(rows)} rows mention {text!r}"
    return rows[0]


@dataclass
class Owned:
    """A Docker object this test created: what its remove button posts, how it is shown, whether it still exists."""

    ref: str
    label: str
    exists: Callable[[], bool]


def _exists(get: Callable[[str], object], ref: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            get(ref)
        except DockerNotFound:
            return False
        return True

    return check


@pytest.fixture
def own_image(docker_client: DockerClient, docker_prefix: str, test_image: str) -> Iterator[str]:
    """The test image under a tag of this test's own ("dm-t-…-img:x"), untagged again afterwards."""
    repository = f"{docker_prefix}img"
    docker_client.images.get(test_image).tag(repository, "x")
    yield f"{repository}:x"
    with contextlib.suppress(DockerNotFound):
        docker_client.images.remove(f"{repository}:x")  # by tag, without force: only the tag goes


@pytest.fixture
def owned(docker_client: DockerClient, docker_prefix: str, docker_labels: dict[str, str], own_image: str) -> dict:
    """One image tag, network and volume of this test's own, by kind."""
    network = docker_client.networks.create(f"{docker_prefix}net", labels=docker_labels)
    volume = docker_client.volumes.create(f"{docker_prefix}vol", labels=docker_labels)
    return {
        "images": Owned(own_image, own_image, _exists(docker_client.images.get, own_image)),
        "networks": Owned(network.id, network.name, _exists(docker_client.networks.get, network.id)),
        "volumes": Owned(volume.name, volume.name, _exists(docker_client.volumes.get, volume.name)),
    }


@pytest.fixture
def labelled_prune(monkeypatch: pytest.MonkeyPatch, docker_labels: dict[str, str]) -> None:
    """Narrow the engine's prunes to this test's labels (see the module docstring for why)."""
    for name in ("prune_images", "prune_networks", "prune_volumes"):
        monkeypatch.setattr(SocketEngine, name, partialmethod(getattr(SocketEngine, name), labels=docker_labels))


@pytest.fixture
def unreachable_host(db) -> Host:
    return Host.objects.create(name="gone", kind=Host.Kind.SOCKET, url="unix:///nonexistent.sock")


def url(host: Host, kind: str, action: str = "") -> str:
    return f"/hosts/{host.pk}/{kind}/{action + '/' if action else ''}"


# --- seeing -------------------------------------------------------------------------------------------------


def test_the_host_page_loads_the_images_tab_when_it_comes_into_view(client_for, viewer, local_host):
    page = client_for(viewer).get(f"/hosts/{local_host.pk}/").content.decode()
    assert 'id="host-resources"' in page
    assert f'hx-get="{url(local_host, "images")}" hx-trigger="revealed"' in page


def test_a_viewer_sees_images_networks_and_volumes(
    client_for, viewer, local_host, owned, run_container, docker_client, test_image
):
    run_container()  # the test image (and so the image behind our tag) is in use
    client = client_for(viewer)

    images = client.get(url(local_host, "images"), **HTMX)
    assert images.status_code == 200
    page = images.content.decode()
    assert re.search(r'aria-selected="true"\s+hx-get="[^"]+/images/"', page)  # its own tab is the active one
    mine = row_of(page, f'value="{owned["images"].ref}"')
    image_id = docker_client.images.get(test_image).id
    assert image_id.removeprefix("sha256:")[:12] in mine and "in use" in mine
    assert "Only this tag goes: the image keeps its other tags." in mine  # the image is also dockenv/testapp:1

    page = client.get(url(local_host, "networks"), **HTMX).content.decode()
    assert re.search(r'aria-selected="true"\s+hx-get="[^"]+/networks/"', page)
    assert owned["networks"].label in row_of(page, f'value="{owned["networks"].ref}"')
    bridge = row_of(page, docker_client.networks.get("bridge").id[:12])
    assert "built in" in bridge and "<form" not in bridge  # no remove button for Docker's own networks

    page = client.get(url(local_host, "volumes"), **HTMX).content.decode()
    volume = owned["volumes"].label
    assert f"Delete the volume {volume} from local, with all its data?" in row_of(page, f'value="{volume}"')
    assert 'class="needs-hosts' in page  # the destructive controls are hidden from roles without hosts.manage


def test_an_unreachable_host_shows_why_inside_the_tab(client_for, admin, unreachable_host):
    client = client_for(admin)
    for kind in KINDS:
        response = client.get(url(unreachable_host, kind), **HTMX)
        assert response.status_code == 200
        assert (
            f"Could not read the {kind} of gone: Nothing answers at unix:///nonexistent.sock (no such socket file)."
            in response.content.decode()
        )
    removal = client.post(url(unreachable_host, "volumes", "remove"), {"id": "data"}, **HTMX)
    assert (removal.status_code, removal.content.decode()) == (
        502,
        "Nothing answers at unix:///nonexistent.sock (no such socket file).",
    )
    assert client.post(url(unreachable_host, "networks", "prune"), **HTMX).status_code == 502
    failures = Event.objects.filter(host=unreachable_host, severity=Event.Severity.WARNING)
    assert sorted(e.action for e in failures) == ["hosts.networks_prune", "hosts.volume_remove"]


def test_an_unknown_kind_is_not_found(client_for, viewer, unreachable_host):
    assert client_for(viewer).get(url(unreachable_host, "secrets"), **HTMX).status_code == 404


# --- removing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_an_admin_removes_an_object_and_it_is_gone_from_docker(
    client_for, admin, local_host, owned, kind, docker_client, test_image
):
    mine: Owned = owned[kind]
    response = client_for(admin).post(url(local_host, kind, "remove"), {"id": mine.ref}, **HTMX)

    assert response.status_code == 200
    page = response.content.decode()
    assert f'value="{mine.ref}"' not in page  # the refreshed list, without it
    assert f"Removed {kind[:-1]} {mine.label}." in page  # the toast
    assert not mine.exists()
    event = Event.objects.get(action=f"hosts.{kind[:-1]}_remove")
    assert (event.actor, event.host, event.message, event.severity) == (admin, local_host, mine.label, "info")
    assert event.details["name"] == mine.label and event.details["id"]
    if kind == "images":
        docker_client.images.get(test_image)  # only our tag went, not the image it points at


@pytest.mark.parametrize("persona", ["viewer", "operator"])
def test_viewers_and_operators_may_not_remove_or_prune(request, client_for, persona, local_host, owned, labelled_prune):
    client = client_for(request.getfixturevalue(persona))
    for kind, mine in owned.items():
        removal = client.post(url(local_host, kind, "remove"), {"id": mine.ref}, **HTMX)
        prune = client.post(url(local_host, kind, "prune"), **HTMX)
        for response in (removal, prune):
            assert response.status_code == 403
            assert response.content.decode() == "You need the “hosts.manage” permission for this."
        assert mine.exists()
    assert not Event.objects.filter(category="hosts").exists()


def test_what_is_in_use_is_refused_with_docker_s_reason(client_for, admin, local_host, owned, run_container):
    run_container(network=owned["networks"].ref, volumes={owned["volumes"].ref: {"bind": "/data", "mode": "rw"}})
    client = client_for(admin)
    refusals = {
        "networks": "Containers are still connected to the network.",
        "volumes": "The volume is still used by a container.",
    }
    for kind, reason in refusals.items():
        response = client.post(url(local_host, kind, "remove"), {"id": owned[kind].ref}, **HTMX)
        assert (response.status_code, response.content.decode()) == (409, reason)
        assert owned[kind].exists()
        failed = Event.objects.get(action=f"hosts.{kind[:-1]}_remove")
        assert failed.severity == Event.Severity.WARNING and failed.details["result"] == "failed"
        assert failed.message == f"{owned[kind].label}: failed: {reason}"


def test_built_in_networks_are_refused_before_docker_is_asked(client_for, admin, local_host, docker_client):
    bridge = docker_client.networks.get("bridge")
    response = client_for(admin).post(url(local_host, "networks", "remove"), {"id": bridge.id}, **HTMX)
    assert (response.status_code, response.content.decode()) == (
        409,
        "The network bridge is built into Docker and cannot be removed.",
    )


def test_without_htmx_a_removal_goes_back_to_the_host_page(client_for, admin, local_host, owned):
    client = client_for(admin)
    response = client.post(url(local_host, "volumes", "remove"), {"id": owned["volumes"].ref})
    assert response.status_code == 302 and response["Location"] == f"/hosts/{local_host.pk}/"
    assert not owned["volumes"].exists()
    page = client.get(response["Location"]).content.decode()
    assert f"Removed volume {owned['volumes'].label}." in page


# --- pruning ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["networks", "volumes"])
def test_prune_removes_what_no_container_uses(
    client_for, admin, local_host, kind, docker_client, docker_prefix, docker_labels, run_container, labelled_prune
):
    collection = getattr(docker_client, kind)
    used = collection.create(f"{docker_prefix}used", labels=docker_labels)
    unused = collection.create(f"{docker_prefix}unused", labels=docker_labels)
    if kind == "networks":
        run_container(network=used.name)
    else:
        run_container(volumes={used.name: {"bind": "/data", "mode": "rw"}})

    response = client_for(admin).post(url(local_host, kind, "prune"), **HTMX)

    assert response.status_code == 200
    page = response.content.decode()
    assert f"Pruned 1 {kind[:-1]}." in page
    assert used.name in page and unused.name not in page
    assert [o.name for o in collection.list(filters={"label": f"org.dockenv.test={docker_prefix}"})] == [used.name]
    event = Event.objects.get(action=f"hosts.{kind}_prune")
    assert (event.actor, event.host, event.details["removed"]) == (admin, local_host, [unused.name])


def test_prune_removes_dangling_images(
    client_for, admin, local_host, docker_client, docker_prefix, docker_labels, test_image, labelled_prune
):
    tag = f"{docker_prefix}built:1"

    def build(version: str) -> str:
        dockerfile = f"FROM {test_image}\nENV VERSION={version}\n".encode()
        return docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, labels=docker_labels, rm=True)[0].id

    try:
        dangling = build("1")
        tagged = build("2")  # takes the tag from the first build, which is left dangling
        client = client_for(admin)
        assert client.post(url(local_host, "images", "prune"), **HTMX).status_code == 200
        assert not _exists(docker_client.images.get, dangling)()
        assert _exists(docker_client.images.get, tagged)()
        event = Event.objects.get(action="hosts.images_prune")
        # Docker also counts the build's intermediate images it deleted with it: "Pruned 3 images."
        assert dangling in event.details["removed"] and re.fullmatch(r"Pruned \d+ images?\.", event.message)

        nothing = client.post(url(local_host, "images", "prune"), **HTMX)
        assert "Nothing to prune: there are no dangling images." in nothing.content.decode()
    finally:
        # Images are not cleaned up by the plugin. These two are this test's builds alone: forcing is safe.
        for image in docker_client.images.list(all=True, filters={"label": f"org.dockenv.test={docker_prefix}"}):
            docker_client.images.remove(image.id, force=True)
