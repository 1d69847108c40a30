"""The engine interface (base) and its Docker Engine API implementation (docker_api)."""
