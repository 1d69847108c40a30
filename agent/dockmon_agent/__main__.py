"""`dockmon-agent` (and `python -m dockmon_agent`): read the configuration, then serve DockMon until stopped.

Exit status: 0 when stopped (SIGTERM, SIGINT); 2 when a person has to act first (bad configuration, token
refused, credential revoked), which the systemd unit does not restart on; 1 for a crash.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from dockmon_agent import __version__
from dockmon_agent.client import EXIT_FINAL, Agent
from dockmon_agent.config import ConfigError, load_config

logger = logging.getLogger("dockmon_agent")


async def _serve(agent: Agent) -> int:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stop)
    return await agent.run()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(argv)
        if config.verbose:
            logging.getLogger().setLevel(logging.DEBUG)
        engine = config.engine()
    except ConfigError as exc:
        logger.error("%s", exc)
        return EXIT_FINAL
    try:
        # For tests that run the agent as a process: reconnect within a second instead of up to a minute.
        fast = os.environ.get("DOCKMON_AGENT_TEST_BACKOFF") == "fast"
        agent = Agent(config, engine, min_delay=0.1, max_delay=1.0) if fast else Agent(config, engine)
        logger.info("DockMon agent %s: server %s, Docker at %s", __version__, config.server, config.docker.url)
        return asyncio.run(_serve(agent))
    except ConfigError as exc:
        logger.error("%s", exc)
        return EXIT_FINAL
    finally:
        engine.close()


if __name__ == "__main__":
    sys.exit(main())
