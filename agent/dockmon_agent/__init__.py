"""The DockMon agent, and what the agent and the DockMon server share.

`dockmon_agent.engine` is the one interface to a Docker daemon (and its Docker-API implementation) and
`dockmon_agent.protocol` the message schema between agent and server. None of it imports Django: the agent
runs on remote hosts with only the docker SDK and a WebSocket client installed, and the server imports the
same modules, so the two sides never drift.
"""

__version__ = "0.1.0"
