"""History tiers and the ranges charts ask for.

Each tier holds at most about 600 buckets over its window, so any chart gets at most about 600 points from
the finest tier that still covers its start; coarser tiers are rolled up from finer ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

METRICS = ("cpu", "mem", "memp", "rx", "tx", "rd", "wr", "pids", "load", "disk")


@dataclass(frozen=True)
class Tier:
    index: int
    bucket_seconds: int
    window: timedelta

    @property
    def window_seconds(self) -> int:
        return int(self.window.total_seconds())

    def bucket_of(self, epoch_seconds: float) -> int:
        return int(epoch_seconds // self.bucket_seconds) * self.bucket_seconds


TIERS = (
    Tier(0, 6, timedelta(hours=1)),  # 600 buckets
    Tier(1, 150, timedelta(hours=24)),  # 576
    Tier(2, 1200, timedelta(days=7)),  # 504
    Tier(3, 4500, timedelta(days=30)),  # 576
    Tier(4, 14400, timedelta(days=90)),  # 540
)

RANGES = {
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}


def tier_covering(age_seconds: float) -> Tier:
    """The finest tier whose window reaches `age_seconds` into the past (the coarsest for anything older)."""
    for tier in TIERS:
        if age_seconds <= tier.window_seconds:
            return tier
    return TIERS[-1]
