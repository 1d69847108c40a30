# syntax=docker/dockerfile:1
# The DockMon agent: connects this host's Docker daemon to a DockMon server over an outgoing WebSocket.
# Build from the repository root:  docker build -f docker/agent.Dockerfile -t dockmon-agent .
# Run it as agent/README.md shows (the Docker socket mounted, a volume for the credential).

# Pinned to bookworm: the plain python:3.11-slim tag moves to newer Debian releases.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DOCKMON_AGENT_DATA=/var/lib/dockmon-agent

WORKDIR /opt/dockmon-agent

# The pinned dependencies first, so that a code change does not reinstall them.
COPY requirements/agent.txt requirements/agent.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --root-user-action=ignore -r requirements/agent.txt

# Only the agent package, none of the server's code. --no-deps: its dependencies are the pinned ones above.
COPY agent/ agent/
RUN pip install --root-user-action=ignore --no-cache-dir --no-deps ./agent \
    && install -d -m 0700 /var/lib/dockmon-agent

# Root, on purpose. The agent must read and write the host's Docker socket, which belongs to the host's
# `docker` group, whose id differs from host to host; a fixed user baked into the image would have to be
# matched to it on every host. Any process that can use that socket is root on the host anyway (it can
# start a privileged container), so a non-root user here would not contain a compromised agent: protect the
# agent's credential and the DockMon server instead. To run unprivileged all the same, use
# `--user 65534:<docker gid of the host>` with a data volume that user can write.
USER root

# The credential the server hands out at registration (credential.json). Keep it on a named volume: losing it
# means registering again with a new token.
VOLUME ["/var/lib/dockmon-agent"]

ENTRYPOINT ["dockmon-agent"]
