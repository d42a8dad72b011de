"""The table people read and the JSON object machines read, from one set of figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import cache_report, served_hits
from .cache import CacheFigures
from .imports import ImportFigures
from .measure import median, p95
from .phases import Availability, BareBurst, Burst, CallCounts, Create, Ranges
from .served_hits import HitBurst
from .server import DEFAULT_THREADS, ServerFigures

REQUEST_TARGETS = {
    "getAvailability": 1,
    "createBooking": 1,
    "cancelBooking": 1,
    "rearrangeBooking": 2,
}
AVAILABILITY_TARGET = 1.10
RANGE_TARGET = 1.5
CREATE_TARGET = 1.15
TOKEN_TARGET = 1
THROUGHPUT_TARGET = 0.7
IMPORT_TARGET = 1.3
# 7.: the deployed server's share of the ideal, at this Keyloop latency (issue 13).
SERVER_TARGET_LATENCY_MS = 200.0


@dataclass(frozen=True)
class Figures:
    latency_ms: float
    counts: CallCounts
    availability: Availability
    ranges: Ranges
    create: Create
    burst: Burst
    bare_burst: BareBurst
    imports: ImportFigures
    server: ServerFigures
    cache: CacheFigures
    served_hits: HitBurst

    @property
    def availability_ratio(self) -> float:
        return median(self.availability.ours_ms) / median(self.availability.bare_ms)

    @property
    def availability_p95_ratio(self) -> float:
        return p95(self.availability.ours_ms) / median(self.availability.bare_ms)

    @property
    def range_ratio(self) -> float:
        return median(self.ranges.ours_7d_ms) / median(self.ranges.ours_1d_ms)

    @property
    def naive_range_ratio(self) -> float:
        return median(self.ranges.naive_7d_ms) / median(self.ranges.naive_1d_ms)

    @property
    def create_ratio(self) -> float:
        return median(self.create.ours_ms) / self.create.limit_ms

    def holds(self) -> dict[str, bool]:
        """Each target of issue 6: does it hold in this run?"""
        result = {
            f"keyloop_requests.{name}": self.counts.keyloop[name] <= target
            for name, target in REQUEST_TARGETS.items()
        }
        result.update(
            availability_ratio=self.availability_ratio <= AVAILABILITY_TARGET,
            availability_p95_ratio=self.availability_p95_ratio <= AVAILABILITY_TARGET,
            range_ratio_7d=self.range_ratio <= RANGE_TARGET,
            create_ratio=self.create_ratio <= CREATE_TARGET,
            concurrent_token_requests=self.burst.token_requests <= TOKEN_TARGET,
            throughput_share=(
                self.burst.throughput_share >= THROUGHPUT_TARGET and not self.burst.failures
            ),
            import_ratio=self.imports.ratio <= IMPORT_TARGET,
        )
        target = [
            r
            for r in self.server.runs
            if r.threads == self.server.threads and r.latency_ms == SERVER_TARGET_LATENCY_MS
        ]
        if target:
            result["server_throughput_share"] = (
                target[0].share >= THROUGHPUT_TARGET and not target[0].failures
            )
        result.update(cache_report.holds(self.cache))
        result["served_hit_share"] = served_hits.holds(self.served_hits)
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "keyloop_requests": {k: round(v, 2) for k, v in self.counts.keyloop.items()},
            "naive_keyloop_requests": {
                k: round(v, 2) for k, v in self.counts.naive_keyloop.items()
            },
            "availability_ratio": round(self.availability_ratio, 3),
            "availability_p95_ratio": round(self.availability_p95_ratio, 3),
            "range_ratio_7d": round(self.range_ratio, 3),
            "naive_range_ratio_7d": round(self.naive_range_ratio, 3),
            "create_ratio": round(self.create_ratio, 3),
            "firestore_ops": {
                name: {"reads": ops.reads, "writes": ops.writes}
                for name, ops in self.counts.firestore.items()
            },
            "concurrent_token_requests": self.burst.token_requests,
            "throughput_share": round(self.burst.throughput_share, 3),
            "keyloop_ceiling": self.server.ceiling,
            "burst_waves": self.burst.waves,
            "peak_rss_mib": round(self.burst.peak_rss_mib, 1),
            "import_ratio": round(self.imports.ratio, 3),
            "sandbox_latency_ms": self.latency_ms,
            "server": {
                "threads_deployed": self.server.threads,
                "bursts": [
                    {
                        "threads": r.threads,
                        "latency_ms": r.latency_ms,
                        "single_call_ms": round(r.single_ms, 1),
                        "waves": r.waves,
                        "ideal_ms": round(r.ideal_ms, 1),
                        "burst_ms": [round(w, 1) for w in r.walls_ms],
                        "share": round(r.share, 3),
                        "failures": r.failures,
                    }
                    for r in self.server.runs
                ],
                "cpu_ms_per_call": round(self.server.cpu_ms_per_call, 3),
                "cpu_ms_per_call_batches": [round(x, 3) for x in self.server.cpu_batches_ms],
                "profile": None
                if self.server.profile is None
                else {
                    "samples": self.server.profile.samples,
                    "by_package": {k: round(v, 3) for k, v in self.server.profile.by_package},
                    "error": self.server.profile.error,
                },
            },
            "cache": cache_report.to_json(self.cache),
            "served_hits": served_hits.to_json(self.served_hits),
        }


def table(figures: Figures) -> str:
    f = figures
    holds = f.holds()
    rows: list[tuple[str, str, str, str, str]] = [
        ("metric", "ours", "naive / limit", "target", "holds")
    ]

    def mark(key: str) -> str:
        return "yes" if holds[key] else "NO"

    for name, target in REQUEST_TARGETS.items():
        rows.append(
            (
                f"1. Keyloop requests / warm {name}",
                f"{f.counts.keyloop[name]:.2f}",
                f"naive {f.counts.naive_keyloop[name]:.2f}",
                f"{target}",
                mark(f"keyloop_requests.{name}"),
            )
        )
    bare = median(f.availability.bare_ms)
    rows += [
        (
            "2. getAvailability median / bare RT",
            f"{f.availability_ratio:.3f} ({median(f.availability.ours_ms):.1f} ms)",
            f"limit 1 ({bare:.1f} ms)",
            f"<= {AVAILABILITY_TARGET}",
            mark("availability_ratio"),
        ),
        (
            "2. getAvailability p95 / bare RT",
            f"{f.availability_p95_ratio:.3f} ({p95(f.availability.ours_ms):.1f} ms)",
            f"limit 1 ({bare:.1f} ms; bare p95 {p95(f.availability.bare_ms):.1f} ms)",
            f"<= {AVAILABILITY_TARGET}",
            mark("availability_p95_ratio"),
        ),
        (
            "   p95 against the bare p95 (the tail's own)",
            f"{p95(f.availability.ours_ms) / p95(f.availability.bare_ms):.3f}",
            "",
            "",
            "",
        ),
        (
            "3. getAvailability 7 days / 1 day",
            f"{f.range_ratio:.3f} ({median(f.ranges.ours_7d_ms):.1f} ms)",
            f"naive {f.naive_range_ratio:.3f} ({median(f.ranges.naive_7d_ms):.1f} ms)",
            f"<= {RANGE_TARGET}",
            mark("range_ratio_7d"),
        ),
        (
            "4. createBooking / (RT + writes)",
            f"{f.create_ratio:.3f} ({median(f.create.ours_ms):.1f} ms)",
            f"limit 1 ({f.create.limit_ms:.1f} ms)",
            f"<= {CREATE_TARGET}",
            mark("create_ratio"),
        ),
        (
            "   of which bare Keyloop create RT",
            "",
            f"{median(f.create.keyloop_ms):.1f} ms",
            "",
            "",
        ),
        (
            "   of which bare Firestore claim/update/batch",
            "",
            f"{median(f.create.fs_create_ms):.1f}/{median(f.create.fs_update_ms):.1f}/"
            f"{median(f.create.fs_batch_ms):.1f} ms",
            "",
            "",
        ),
    ]
    for name, ops in f.counts.firestore.items():
        rows.append(
            (
                f"4. Firestore reads/writes, warm {name}",
                f"{ops.reads} / {ops.writes} ({ops.rpcs} RPCs)",
                "",
                "",
                "",
            )
        )
    for name in ("cancelBooking", "rearrangeBooking"):
        rows.append(
            (
                f"   warm {name} median",
                f"{median(f.counts.timings_ms[name]):.1f} ms",
                "",
                "",
                "",
            )
        )
    b = f.burst
    rows += [
        (
            f"5. token requests, {b.callers} concurrent cold calls",
            f"{b.token_requests}",
            f"naive {b.callers}",
            f"{TOKEN_TARGET}",
            mark("concurrent_token_requests"),
        ),
        (
            f"5. throughput share ({b.callers} / {b.wall_s * 1000:.0f} ms)",
            f"{b.throughput_share:.3f}",
            f"ideal 1 ({b.callers} in {b.ideal_s * 1000:.0f} ms: one cold call "
            f"{b.cold_call_s * 1000:.1f} ms + {b.waves - 1} warm, ceiling "
            f"{f.server.ceiling})",
            f">= {THROUGHPUT_TARGET}",
            mark("throughput_share"),
        ),
        (
            "   same burst by a bare requests client (no ceiling)",
            f"{f.bare_burst.throughput_share:.3f}",
            f"({b.callers} in {f.bare_burst.wall_s * 1000:.0f} ms; one cold: "
            f"{f.bare_burst.cold_call_s * 1000:.1f} ms)",
            "",
            "",
        ),
        ("5. peak RSS of the process", f"{b.peak_rss_mib:.1f} MiB", "", "", ""),
        (
            "6. import main / import https_fn",
            f"{f.imports.ratio:.3f} ({f.imports.main_s * 1000:.0f} ms)",
            f"floor 1 ({f.imports.floor_s * 1000:.0f} ms)",
            f"<= {IMPORT_TARGET}",
            mark("import_ratio"),
        ),
    ]
    if b.failures:
        rows.append(("5. FAILED concurrent calls", f"{b.failures}", "", "0", "NO"))
    rows += _server_rows(f.server, holds)
    rows += cache_report.rows(f.cache, holds)
    uncached = [
        (r.latency_ms, r.single_ms)
        for r in f.server.runs
        if r.threads == f.served_hits.threads and r.latency_ms == SERVER_TARGET_LATENCY_MS
    ]
    rows += served_hits.rows(
        f.served_hits, holds["served_hit_share"], uncached[0] if uncached else None
    )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _server_rows(
    server: ServerFigures, holds: dict[str, bool]
) -> list[tuple[str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str]] = []
    for run in server.runs:
        which = "default" if run.threads == DEFAULT_THREADS else ".env"
        target = run.threads == server.threads and run.latency_ms == SERVER_TARGET_LATENCY_MS
        failed = f", {run.failures} FAILED" if run.failures else ""
        rows.append(
            (
                f"7. served, THREADS={run.threads} ({which}), +{run.latency_ms:g} ms: share",
                f"{run.share:.3f}{failed}",
                f"ideal 1 ({server.callers} in {run.wall_ms:.0f} ms; ideal {run.ideal_ms:.0f}: "
                f"{run.waves} x one {run.single_ms:.1f} ms)",
                f">= {THROUGHPUT_TARGET}" if target else "",
                ("yes" if holds["server_throughput_share"] else "NO") if target else "",
            )
        )
    batches = "/".join(f"{x:.2f}" for x in server.cpu_batches_ms)
    rows.append(
        (
            "7. CPU ms per warm call, gunicorn worker",
            f"{server.cpu_ms_per_call:.2f}",
            f"batches of {server.cpu_calls}: {batches}",
            "",
            "",
        )
    )
    return rows


def profile_text(server: ServerFigures) -> str:
    """Where the served call's CPU goes (py-spy, samples holding the GIL)."""
    profile = server.profile
    if profile is None:
        return ""
    if profile.error:
        return f"7. profile of the worker: not taken ({profile.error})"
    lines = [
        f"7. where the worker's CPU goes: {profile.samples} py-spy samples holding the GIL, "
        "by the innermost frame's package"
    ]
    lines += [f"   {share:6.1%}  {name}" for name, share in profile.by_package]
    lines.append("   hottest functions (innermost frame):")
    lines += [f"   {share:6.1%}  {name}" for name, share in profile.top_functions]
    return "\n".join(lines)
