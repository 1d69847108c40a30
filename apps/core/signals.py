"""Sending Django signals so that one failing receiver never breaks the sender."""

from __future__ import annotations

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)


def announce(signal: Signal, sender, **kwargs) -> None:
    """`send_robust`, with each receiver's failure logged (the sender's work is done and stays done)."""
    for receiver, outcome in signal.send_robust(sender=sender, **kwargs):
        if isinstance(outcome, Exception):
            logger.error("%s failed on %s", getattr(receiver, "__qualname__", receiver), sender, exc_info=outcome)
