"""Soak run: N RTSP cameras through `lookout run` for a chosen time, with outages on a
schedule; every 10 s the daemon's RSS, threads, open files, queue depths and case
counts are sampled into a CSV, and a PNG plots them.

    .venv/bin/python benchmarks/soak.py [--cameras 8] [--minutes 60] [--warmup-min 5]
        [--outage-every-s 300] [--outage-s 30] [--out out/soak]

The cameras are split over two local RTSP servers (tests/support/rtsp_server.py,
Debian's GStreamer) serving the 1080p25 H.264 clip of the benchmark runner; each has a
no-parking zone around the parked van, so cases keep coming (one per camera, then
merged sightings, then a new case after `dedup.cooldown_s`). An outage stops one
server (half the cameras) for `--outage-s`, alternating between the two.

At the end it checks what the issue asks of a box that runs for months
(docs/OPERATIONS.md "Memory and a long run"): RSS drift after warm-up (mean of the last
tenth of the samples over the mean of the first tenth after warm-up), threads and open
files flat (max − min after warm-up), and every case accounted for (each case the daemon
counted is one row of the outbox and one line of the JSONL sink, ids unique).
`summary.json` holds the numbers.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lookout.base.paths import REPO_ROOT  # noqa: E402
from lookout.clips.media import make_1080p25  # noqa: E402
from tests.console.conftest import free_port  # noqa: E402
from tests.support.media import RtspServer, start_rtsp_server  # noqa: E402

FIELDS = [
    "t_s",
    "rss_mb",
    "threads",
    "fds",
    "queue_depth_sum",
    "queue_depth_max",
    "cameras_streaming",
    "cases_outbox",
    "cases_counted",
    "reconnects",
    "outage",
]
VAN_ZONE = "[[1500, 120], [1830, 120], [1830, 300], [1500, 300]]"


def config(out: Path, port: int, urls: list[str]) -> str:
    cams = "".join(
        f"""
  - id: cam{i + 1}
    source: "{url}"
    analysis_fps: 1
    stream: {{analysis_mode: keyframes, stall_timeout_s: 5, backoff: {{initial_s: 1, max_s: 10}}}}
    zones:
      - id: no-parking
        polygon: {VAN_ZONE}
        policies: [{{type: illegal_parking, classes: [car, truck, bus], dwell_s: 10}}]
"""
        for i, url in enumerate(urls)
    )
    return f"""
site: {{timezone: Asia/Shanghai}}
model: {{manifest: {REPO_ROOT / "models" / "yolox_nano.yaml"}, batch_size: 8}}
dedup: {{cooldown_s: 600}}
daemon:
  out_dir: {out}
  http: {{port: {port}, console: {{enabled: false}}}}
sinks:
  - {{type: sqlite, path: cases.db}}
  - {{type: jsonl, path: cases.jsonl}}
cameras:{cams}
"""


def proc_status(pid: int) -> tuple[float, int]:
    rss, threads = 0.0, 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss, threads


def metrics(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(\{([^}]*)\})? ([0-9.eE+-]+)$", line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
            out.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return out


def outbox_cases(db: Path) -> int:
    if not db.is_file():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0])


def sample(pid: int, port: int, db: Path, t0: float, outage: bool) -> dict[str, Any]:
    rss, threads = proc_status(pid)
    m = metrics(port)
    depths = [v for _, v in m.get("lookout_camera_queue_depth", [])]
    streaming = sum(
        1 for labels, v in m.get("lookout_camera_state", []) if labels["state"] == "streaming" and v
    )
    counted = sum(v for _, v in m.get("lookout_cases_total", []))
    reconnects = sum(v for _, v in m.get("lookout_camera_reconnects_total", []))
    return {
        "t_s": round(time.monotonic() - t0, 1),
        "rss_mb": round(rss, 1),
        "threads": threads,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "queue_depth_sum": int(sum(depths)),
        "queue_depth_max": int(max(depths, default=0)),
        "cameras_streaming": streaming,
        "cases_outbox": outbox_cases(db),
        "cases_counted": int(counted),
        "reconnects": int(reconnects),
        "outage": int(outage),
    }


def plot(rows: list[dict[str, Any]], warmup_s: float, path: Path) -> None:
    """Four panels against minutes: RSS, threads and open files, queued frames, cases;
    outages shaded, warm-up greyed. Drawn with OpenCV (no plotting library)."""
    panels = [
        ("RSS MB", ["rss_mb"]),
        ("threads (blue), open files (green)", ["threads", "fds"]),
        ("queued frames, all cameras", ["queue_depth_sum"]),
        ("cases: outbox (blue), counted (green)", ["cases_outbox", "cases_counted"]),
    ]
    colours = [(200, 80, 0), (0, 140, 0), (0, 0, 200)]
    w, ph = 900, 170
    img = np.full((ph * len(panels) + 40, w, 3), 255, np.uint8)
    tmax = max(r["t_s"] for r in rows) or 1.0
    left, right = 70, w - 20
    for k, (title, keys) in enumerate(panels):
        top, bottom = 20 + k * ph, 20 + k * ph + ph - 30
        cv2.rectangle(img, (left, top), (right, bottom), (0, 0, 0), 1)

        def x(t: float, left: int = left) -> int:
            return int(left + (right - left) * t / tmax)

        cv2.rectangle(img, (left + 1, top + 1), (x(warmup_s), bottom - 1), (235, 235, 235), -1)
        for r in rows:
            if r["outage"]:
                cv2.line(img, (x(r["t_s"]), top + 1), (x(r["t_s"]), bottom - 1), (210, 210, 255), 3)
        vals = [r[key] for r in rows for key in keys]
        vmin, vmax = min(vals), max(vals)
        lo, hi = (vmin - 1, vmax + 1) if vmax == vmin else (vmin, vmax + 0.08 * (vmax - vmin))
        for j, key in enumerate(keys):
            pts = [
                (x(r["t_s"]), int(bottom - (bottom - top) * (r[key] - lo) / (hi - lo)))
                for r in rows
            ]
            cv2.polylines(img, [np.array(pts, np.int32)], False, colours[j], 2)
        label = f"{title}: {vmin:g}..{vmax:g}"
        cv2.putText(img, label, (left + 6, top + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    footer = f"minutes 0..{tmax / 60:.0f}; grey: warm-up; red: outage (half the cameras)"
    cv2.putText(img, footer, (left, img.shape[0] - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1)
    cv2.imwrite(str(path), img)


def verdict(rows: list[dict[str, Any]], warmup_s: float, out: Path) -> dict[str, Any]:
    after = [r for r in rows if r["t_s"] >= warmup_s]
    tenth = max(1, len(after) // 10)
    first = statistics.mean(r["rss_mb"] for r in after[:tenth])
    last = statistics.mean(r["rss_mb"] for r in after[-tenth:])
    lines = (
        (out / "cases.jsonl").read_text().splitlines() if (out / "cases.jsonl").is_file() else []
    )
    ids = [json.loads(line)["id"] for line in lines]
    with sqlite3.connect(out / "cases.db") as conn:
        rows_db = [r[0] for r in conn.execute("SELECT id FROM cases")]
    return {
        "samples": len(rows),
        "minutes": round(rows[-1]["t_s"] / 60, 1),
        "rss_first_mb": round(first, 1),
        "rss_last_mb": round(last, 1),
        "rss_drift": round(last / first - 1, 4),
        "threads_range": [min(r["threads"] for r in after), max(r["threads"] for r in after)],
        "fds_range": [min(r["fds"] for r in after), max(r["fds"] for r in after)],
        "queue_depth_max": max(r["queue_depth_max"] for r in rows),
        "cases_counted": rows[-1]["cases_counted"],
        "cases_outbox": len(rows_db),
        "cases_jsonl": len(ids),
        "ids_unique": len(set(ids)) == len(ids) and set(ids) == set(rows_db),
        "outages": sum(1 for a, b in itertools.pairwise(rows) if b["outage"] and not a["outage"]),
    }


def replot(out: Path, warmup_s: float) -> None:
    """Draw soak.png again from soak.csv (`--replot`)."""
    with (out / "soak.csv").open() as fh:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    plot(rows, warmup_s, out / "soak.png")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cameras", type=int, default=8)
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--warmup-min", type=float, default=5.0)
    p.add_argument("--outage-every-s", type=float, default=300.0)
    p.add_argument("--outage-s", type=float, default=30.0)
    p.add_argument("--every-s", type=float, default=10.0)
    p.add_argument("--out", type=Path, default=REPO / "out" / "soak")
    p.add_argument("--replot", action="store_true", help="Only draw soak.png from soak.csv.")
    args = p.parse_args()
    out = args.out.resolve()
    if args.replot:
        replot(out, args.warmup_min * 60)
        return 0
    if out.exists():
        for f in ("cases.db", "cases.jsonl", "dedup.db"):
            (out / f).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    clip = make_1080p25(seconds=20.0)
    half = (args.cameras + 1) // 2
    servers: list[RtspServer] = [
        start_rtsp_server({f"/cam{i}": clip for i in range(n)}) for n in (half, args.cameras - half)
    ]
    urls = [servers[0].url(f"/cam{i}") for i in range(half)]
    urls += [servers[1].url(f"/cam{i}") for i in range(args.cameras - half)]
    port = free_port()
    cfg = out / "soak.yaml"
    cfg.write_text(config(out, port, urls))
    log = (out / "lookout.log").open("w")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "lookout.cli.main", "run", "--config", str(cfg)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    warmup_s = args.warmup_min * 60
    down: RtspServer | None = None
    down_until = 0.0
    next_outage = t0 + warmup_s + args.outage_every_s / 2
    which = 0
    try:
        while time.monotonic() < end:
            now = time.monotonic()
            if down is None and now >= next_outage:
                down, which = servers[which % 2], which + 1
                down.stop()
                down_until, next_outage = now + args.outage_s, now + args.outage_every_s
            elif down is not None and now >= down_until:
                down.restart()
                down = None
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon exited ({daemon.returncode}); see {out}/lookout.log")
            try:
                rows.append(sample(daemon.pid, port, out / "cases.db", t0, down is not None))
            except OSError as exc:  # not listening yet
                print(f"sample skipped: {exc}", file=sys.stderr)
            if rows and len(rows) % 6 == 0:
                r = rows[-1]
                print(
                    f"{r['t_s'] / 60:5.1f} min  rss {r['rss_mb']} MB  threads {r['threads']}  "
                    f"fds {r['fds']}  queued {r['queue_depth_sum']}  cases {r['cases_outbox']}",
                    flush=True,
                )
            time.sleep(max(0.0, args.every_s - (time.monotonic() - now)))
    finally:
        if down is not None:
            down.restart()
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        for s in servers:
            s.close()
        log.close()
    with (out / "soak.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, warmup_s, out / "soak.png")
    summary = {**verdict(rows, warmup_s, out), "cameras": args.cameras, "exit": daemon.returncode}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
