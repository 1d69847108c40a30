"""DockMon's benchmarks: `python -m bench.run [--containers 200] [--rows 500] [--quick]` (or `make bench`).

Everything runs against real services: the local Docker daemon, Redis and SQLite. Django is set up with a
temporary data directory (so a fresh SQLite database) and a Redis key prefix of its own, both removed at
the end, so a run never touches a running DockMon. Each figure is printed next to a reference measured in
the same run (the `docker` CLI, or the local socket, doing the same work), and everything goes to
bench/results/latest.json. The agent bench starts a whole DockMon (scripts/run) inside that data dir and
prefix, and an agent process; the metrics bench a second, mutual-TLS dockerd, a Celery worker, daphne and a
whole DockMon; the alerts bench a busybox httpd container and a Celery worker. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def _isolate() -> Path:
    """Environment for an isolated DockMon, set before Django is imported."""
    data_dir = Path(tempfile.mkdtemp(prefix="dockmon-bench-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "dockmon.settings"
    os.environ["DOCKMON_DATA_DIR"] = str(data_dir)
    os.environ["DOCKMON_REDIS_PREFIX"] = f"dmbench-{uuid.uuid4().hex[:10]}"
    os.environ.pop("DATABASE_URL", None)  # SQLite in the data dir
    os.environ["DOCKMON_AUTO_LOCAL_HOST"] = "0"  # the benches add their own hosts
    os.environ.setdefault("DOCKMON_LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "0")  # measure what production runs
    return data_dir


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, help="containers for the inventory bench (200; 100 with --quick)")
    parser.add_argument("--rows", type=int, default=500, help="container rows for the page bench (500)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller fleets (a few minutes in all)")
    parser.add_argument(
        "--only", choices=["pages", "inventory", "metrics", "alerts", "agent"], help="run one bench only"
    )
    parser.add_argument(
        "--metrics",
        type=_metrics_parts,
        default=None,
        metavar="PARTS",
        help="metrics bench parts, comma separated: history,sweep,scale,fanout,memory (all)",
    )
    parser.add_argument("--profile", action="store_true", help="also print cProfiles (pages, sweeps, chart)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.containers is None:
        args.containers = 100 if args.quick else 200
    return args


def _metrics_parts(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    known = ("history", "sweep", "scale", "fanout", "memory")  # bench/metrics_run.py PARTS
    unknown = [p for p in parts if p not in known]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"unknown part {', '.join(unknown) or '(none)'}; from {','.join(known)}")
    return parts


# --- figures ---------------------------------------------------------------------------------------------


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile: p90 of 20 samples is the 18th smallest."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summarise(measurements: list[dict]) -> list[dict]:
    """Medians, p90 and max in ms, the ratio to the reference and the verdict against the target."""
    by_key = {m["key"]: m for m in measurements if "key" in m}
    for m in measurements:
        samples = m.get("samples")
        if not samples:
            continue
        m["n"] = len(samples)
        m["median_ms"] = round(statistics.median(samples) * 1000, 2)
        m["p90_ms"] = round(percentile(samples, 0.9) * 1000, 2)
        m["min_ms"] = round(min(samples) * 1000, 2)
        m["max_ms"] = round(max(samples) * 1000, 2)
        if m.get("cpu_samples"):
            m["cpu_median_ms"] = round(statistics.median(m["cpu_samples"]) * 1000, 2)
    for m in measurements:
        ref = by_key.get(m.get("reference") or "")
        if ref and ref.get("median_ms") and m.get("median_ms") is not None:
            m["ratio"] = round(m["median_ms"] / ref["median_ms"], 2)
        if m.get("target_ms") is not None:
            on = m.get("target_on", "median")
            value = m.get(f"{on}_ms") if f"{on}_ms" in m else m.get("value")
            m["meets_target"] = value is not None and value < m["target_ms"] and not m.get("failures")
        if m.get("must_equal") is not None and m["must_equal"] in by_key:
            m["meets_target"] = m.get("value") == by_key[m["must_equal"]].get("value")
    return measurements


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


LEFT_ALIGNED = {0, 6, 8}  # measurement, reference, target


def _line(cells: tuple, widths: list[int]) -> str:
    padded = [
        str(c).ljust(w) if i in LEFT_ALIGNED else str(c).rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    ]
    return "  ".join(padded).rstrip()


def _row(m: dict) -> tuple:
    if "value" in m and "samples" not in m:
        target = ""
        if m.get("must_equal"):
            target = "same as at fewer rows: " + ("OK" if m.get("meets_target") else "MISSED")
        return (m["label"], "", f"{m['value']} {m.get('unit', '')}".strip(), "", "", "", "", "", target)
    target = ""
    if m.get("target_ms") is not None:
        verdict = "OK" if m.get("meets_target") else "MISSED"
        target = f"{m.get('target_on', 'median')} < {m['target_ms']:g} ms: {verdict}"
        if m.get("failures"):
            target += f" ({m['failures']} never arrived)"
    ratio = f"{m['ratio']:.2f}x" if m.get("ratio") is not None else ""
    cpu = _fmt(m["cpu_median_ms"]) if m.get("cpu_median_ms") else ""
    median, p90, top = (_fmt(m.get(k)) for k in ("median_ms", "p90_ms", "max_ms"))
    return (m["label"], str(m.get("n", "")), median, p90, top, cpu, m.get("reference") or "", ratio, target)


def print_table(measurements: list[dict]) -> None:
    header = ("measurement", "n", "median ms", "p90 ms", "max ms", "cpu ms", "reference", "ratio", "target")
    rows = [("## " + m["section"],) if m.get("section") else _row(m) for m in measurements]
    widths = [max(len(str(r[i])) for r in [header, *rows] if len(r) > 1) for i in range(len(header))]
    print()
    print(_line(header, widths))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(r[0] if len(r) == 1 else _line(r, widths))
    print()


def _environment() -> dict:
    def out(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=ROOT).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    import django

    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": out("git", "rev-parse", "--short", "HEAD"),
        "git_dirty": bool(out("git", "status", "--porcelain", "--untracked-files=no")),
        "python": platform.python_version(),
        "django": django.get_version(),
        "docker_server": out("docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"),
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "database": "sqlite",
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


# --- the run ---------------------------------------------------------------------------------------------


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


def _forget_redis_keys(prefix: str) -> None:
    import redis
    from django.conf import settings

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError as error:
        print(f"bench: could not remove the Redis keys {prefix}:* ({error})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    data_dir = _isolate()
    prefix = os.environ["DOCKMON_REDIS_PREFIX"]
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        print(f"bench: data dir {data_dir}, Redis prefix {prefix}, settings {os.environ['DJANGO_SETTINGS_MODULE']}")
        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", verbosity=0, interactive=False)  # the manifest storage needs it
        _check_redis(settings.REDIS_URL)

        load_at_start = os.getloadavg()[0]
        measurements: list[dict] = []
        config = {
            "containers": args.containers,
            "rows": args.rows,
            "quick": args.quick,
            "only": args.only,
            "metrics": args.metrics,
        }
        if args.only in (None, "pages"):
            from bench import pages

            measurements += pages.run(rows=args.rows, quick=args.quick, profile=args.profile)
        if args.only in (None, "inventory"):
            from bench import inventory

            measurements += inventory.run(containers=args.containers, quick=args.quick)
        if args.only in (None, "metrics"):
            from bench import metrics_run

            measurements += metrics_run.run(quick=args.quick, parts=args.metrics, profile=args.profile)
        if args.only in (None, "alerts"):
            from bench import alerts

            measurements += alerts.run(quick=args.quick)
        if args.only in (None, "agent"):
            from bench import agent  # last: it starts a whole DockMon on the run's Redis prefix

            measurements += agent.run(quick=args.quick)
        summarise(measurements)
        print_table(measurements)
        missed = [m["label"] for m in measurements if m.get("meets_target") is False]
        elapsed = time.perf_counter() - started
        environment = _environment() | {"load_average_1m_at_start": round(load_at_start, 2)}
        busiest = max(load_at_start, environment["load_average_1m"])
        if busiest > (os.cpu_count() or 1):
            print(
                f"bench: the machine was busy (1-minute load average up to {busiest:.1f} on {os.cpu_count()} CPUs): "
                "other processes shared the CPUs and the Docker daemon; expect slower, noisier figures."
            )
        report = {
            "environment": environment,
            "config": config,
            "elapsed_s": round(elapsed, 1),
            "measurements": measurements,
            "missed_targets": missed,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"bench: {len(measurements)} figures in {elapsed:.0f} s, written to {args.output}")
        if missed:
            print("bench: targets missed: " + "; ".join(missed))
        return 0
    except KeyboardInterrupt:
        print("\nbench: interrupted; cleaned up", file=sys.stderr)
        return 130
    finally:
        if "django.conf" in sys.modules:
            from django.db import connections

            connections.close_all()
            _forget_redis_keys(prefix)
        shutil.rmtree(data_dir, ignore_errors=True)


def _check_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        raise SystemExit(f"bench: Redis at {url} does not answer ({error}); the listener and pushes need it.") from None


if __name__ == "__main__":
    sys.exit(main())
