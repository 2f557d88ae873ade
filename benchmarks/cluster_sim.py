"""County-scale simulation of the cluster (issue 17): 1,000 cameras over 50 boxes, leases
and assignment only (no video), with the real agents and lease scripts
(lookout/fleet/sim.py) against one real redis-server started here.

    .venv/bin/python benchmarks/cluster_sim.py [--cameras 1000] [--boxes 50] [--ttl 4]
        [--out out/cluster_sim]

It reports balance (max/mean cameras per box; with half the boxes of weight 2, each
box against its fair share), churn (cameras moved when the busiest box is killed and
when it comes back), the time to a full reassignment, how long a box's round takes and
the Redis commands per second. `summary.json` and `cluster_sim.png` go to `--out`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lookout.fleet.leases import assign  # noqa: E402
from lookout.fleet.sim import Balance, Fleet, Sample, balance, moved, steps  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402


def commands(r: redis.Redis) -> int:
    return int(r.info("stats")["total_commands_processed"])


def settle(fleet: Fleet, want: dict[str, str], limit: float) -> float:
    took = fleet.run(limit, until=lambda o: o == want)
    if took is None:
        raise SystemExit("the fleet did not settle on the rendezvous assignment")
    return took


def unweighted(r: redis.Redis, cams: list[str], n_boxes: int, ttl: float) -> dict[str, Any]:
    boxes = {f"box{i:02d}": 1.0 for i in range(n_boxes)}
    hold, every = ttl, 0.25
    fleet = Fleet(r, cams, boxes, ttl_s=ttl, hold_down_s=hold, move_every_s=every)
    want = assign(cams, boxes)
    cold = settle(fleet, want, 6 * ttl)
    settled = fleet.owners()
    b = balance(settled, boxes)
    c0, t0 = commands(r), time.monotonic()
    fleet.run(3 * ttl, sample_every_s=1e9)  # steady state: heartbeats and renewals only
    per_s = (commands(r) - c0 - 2 * len(cams)) / (time.monotonic() - t0)  # less 1 sample
    lapsed = sum(a.stats["lost"] for a in fleet.agents.values())
    rounds = sorted(fleet.round_s)
    dead = max(b.counts, key=lambda x: b.counts[x])
    theirs = fleet.kill_box(dead)
    t_kill = time.monotonic() - fleet.t0
    took = fleet.run(
        6 * ttl,
        until=lambda o: None not in o.values() and dead not in o.values(),
        sample_every_s=0.1,
    )
    if took is None:
        raise SystemExit("not reassigned")
    after_death = fleet.owners()
    n_back = len(fleet.samples)
    fleet.start_box(dead)
    t_back = time.monotonic() - fleet.t0
    back = fleet.run(hold + every * len(theirs) * 3 + 6 * ttl, until=lambda o: o == settled)
    if back is None:
        raise SystemExit("not moved back")
    after_back = fleet.owners()
    back_samples = fleet.samples[n_back:]
    first = next(s.t for s, n in zip(back_samples, steps(back_samples, dead), strict=True) if n)
    timeline = [s for s in fleet.samples if s.t >= t_kill - 2.0]
    gap = max(sum(1 for b in s.owners.values() if b is None) for s in back_samples)
    fleet.stop()
    return {
        "boxes": n_boxes,
        "cold_start_s": round(cold, 2),
        "balance": summary(b),
        "redis_commands_per_s": round(per_s),
        "leases_lapsed_in_steady_state": lapsed,
        "round_ms_p50": round(1000 * statistics.median(rounds), 1),
        "round_ms_max": round(1000 * rounds[-1], 1),
        "killed": dead,
        "killed_cameras": len(theirs),
        "moved_on_death": len(moved(settled, after_death)),
        "only_its_own_moved": moved(settled, after_death) == theirs,
        "reassigned_s": round(took, 2),
        "moved_on_return": len(moved(after_death, after_back)),
        "only_its_own_moved_back": moved(after_death, after_back) == theirs,
        "first_back_after_s": round(first - t_back, 2),
        "all_back_s": round(back, 2),
        "max_unheld_during_move_back": gap,
        "hold_down_s": hold,
        "move_every_s": every,
        "_timeline": (timeline, dead, t_kill, t_back),
        "_counts": b.counts,
    }


def weighted(r: redis.Redis, cams: list[str], n_boxes: int, ttl: float) -> dict[str, Any]:
    weights = {f"box{i:02d}": 2.0 if i % 2 else 1.0 for i in range(n_boxes)}
    fleet = Fleet(r, cams, weights, ttl_s=ttl, prefix="simw")
    cold = settle(fleet, assign(cams, weights), 6 * ttl)
    b = balance(fleet.owners(), weights)
    fleet.stop()
    heavy = sum(n for box, n in b.counts.items() if weights[box] == 2.0)
    return {
        "cold_start_s": round(cold, 2),
        "balance": summary(b),
        "weight2_share": round(heavy / len(cams), 3),
        "mean_weight1": statistics.fmean(n for x, n in b.counts.items() if weights[x] == 1),
        "mean_weight2": statistics.fmean(n for x, n in b.counts.items() if weights[x] == 2),
        "_counts": b.counts,
        "_weights": weights,
    }


def summary(b: Balance) -> dict[str, Any]:
    return {
        "max_over_mean": round(b.max_over_mean, 2),
        "min_over_mean": round(b.min_over_mean, 2),
        "max_over_share": round(b.max_over_share, 2),
        "min_over_share": round(b.min_over_share, 2),
        "max": max(b.counts.values()),
        "min": min(b.counts.values()),
    }


def text(img: np.ndarray, s: str, at: tuple[int, int], colour: tuple[int, int, int]) -> None:
    cv2.putText(img, s, at, cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, 1, cv2.LINE_AA)


def plot(u: dict[str, Any], w: dict[str, Any], path: Path) -> None:
    """Left: cameras per box, sorted (unweighted blue; weighted: weight 1 orange,
    weight 2 green). Right: cameras held by nobody (red) and by the killed box (blue)
    over time, across its death and return."""
    img = np.full((420, 1000, 3), 255, np.uint8)
    # -- left panel
    x0, r_, top, bot = 50, 480, 30, 370
    cv2.rectangle(img, (x0, top), (r_, bot), (0, 0, 0), 1)
    series = [sorted(u["_counts"].values(), reverse=True)]
    ws = w["_weights"]
    wc = sorted(w["_counts"].items(), key=lambda kv: -kv[1])
    ymax = max(max(series[0]), max(n for _, n in wc)) * 1.1
    n = len(series[0])

    def pl(i: int, y: float) -> tuple[int, int]:
        return int(x0 + (r_ - x0) * (i + 0.5) / n), int(bot - (bot - top) * y / ymax)

    for i, v in enumerate(series[0]):
        cv2.circle(img, pl(i, v), 3, (200, 80, 0), -1)
    for i, (box, v) in enumerate(wc):
        colour = (0, 150, 0) if ws[box] == 2 else (0, 140, 255)
        cv2.circle(img, pl(i, v), 3, colour, 1)
    mean = statistics.fmean(series[0])
    cv2.line(img, pl(0, mean), pl(n - 1, mean), (200, 80, 0), 1)
    text(img, "cameras per box (sorted)", (x0 + 5, top - 10), (0, 0, 0))
    text(
        img,
        f"weight 1 only: max/mean {u['balance']['max_over_mean']}",
        (x0 + 150, top + 16),
        (200, 80, 0),
    )
    text(img, "half weight 2 (green) / 1 (orange)", (x0 + 150, top + 34), (0, 100, 0))
    text(img, f"max {int(ymax / 1.1)}", (x0 - 45, top + 10), (0, 0, 0))
    text(img, "0", (x0 - 15, bot), (0, 0, 0))
    # -- right panel
    samples, dead, t_kill, t_back = u["_timeline"]
    x0, r_ = 540, 980
    cv2.rectangle(img, (x0, top), (r_, bot), (0, 0, 0), 1)
    t0, t1 = samples[0].t, samples[-1].t
    ymax = u["killed_cameras"] * 1.2

    def pr(t: float, y: float) -> tuple[int, int]:
        return int(x0 + (r_ - x0) * (t - t0) / (t1 - t0)), int(bot - (bot - top) * y / ymax)

    def line(values: list[int], colour: tuple[int, int, int], ss: list[Sample]) -> None:
        pts = [pr(s.t, v) for s, v in zip(ss, values, strict=True)]
        for a, b in itertools.pairwise(pts):
            cv2.line(img, a, b, colour, 2)

    line([sum(1 for b in s.owners.values() if b is None) for s in samples], (0, 0, 200), samples)
    line(steps(samples, dead), (200, 80, 0), samples)
    for t, label in ((t_kill, "kill -9"), (t_back, "back")):
        cv2.line(img, pr(t, 0), pr(t, ymax), (150, 150, 150), 1)
        text(img, label, (pr(t, 0)[0] + 3, top + 16), (100, 100, 100))
    text(img, f"cameras of {dead} (blue), held by nobody (red)", (x0 + 5, top - 10), (0, 0, 0))
    text(img, f"{t1 - t0:.0f} s", (r_ - 30, bot + 16), (0, 0, 0))
    text(img, str(u["killed_cameras"]), (x0 - 25, pr(0, u["killed_cameras"])[1] + 4), (0, 0, 0))
    text(
        img,
        f"{u['boxes']} boxes, ttl {u['ttl_s']:g} s, hold-down {u['hold_down_s']:g} s, "
        f"one move per {u['move_every_s']:g} s",
        (x0, bot + 36),
        (0, 0, 0),
    )
    cv2.imwrite(str(path), img)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--boxes", type=int, default=50)
    ap.add_argument("--ttl", type=float, default=4.0)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "cluster_sim")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("lookout.fleet.agent").setLevel(logging.ERROR)  # a line per lease moved
    cams = [f"cam{i:04d}" for i in range(args.cameras)]
    with RedisServer() as server:
        r = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=5)
        u = unweighted(r, cams, args.boxes, args.ttl)
        u["ttl_s"] = args.ttl
        w = weighted(r, cams, args.boxes, args.ttl)
        r.close()
    plot(u, w, args.out / "cluster_sim.png")
    result = {
        "cameras": args.cameras,
        "ttl_s": args.ttl,
        "unweighted": {k: v for k, v in u.items() if not k.startswith("_")},
        "weighted": {k: v for k, v in w.items() if not k.startswith("_")},
    }
    (args.out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
