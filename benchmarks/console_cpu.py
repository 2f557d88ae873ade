"""CPU the web console adds to a daemon with 8 RTSP cameras while no browser is open.

    .venv/bin/python benchmarks/console_cpu.py [--pairs 3] [--seconds 60] [--warmup 25]
        [--cameras 8] [--json out/bench/console_cpu.json]

One local RTSP server (tests/support/rtsp_server.py, Debian's GStreamer) serves the
vtest H.264 clip on `--cameras` mounts; `lookout run` analyses them at 2 frames/s each
(the defaults otherwise). Each pair runs the daemon twice, the console off
(`daemon.http.console.enabled: false`: the same HTTP server with /healthz and /metrics
only) and on (no request at all: no browser), in alternating order; after `--warmup`
seconds (model load, connections) the daemon's CPU time (user + system, from
/proc/PID/stat) is measured over `--seconds`. The overhead is the mean CPU of the
runs with the console over the mean without, minus one; the paired differences are
printed too. The RTSP server's own CPU is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lookout.base.paths import REPO_ROOT  # noqa: E402
from tests.console.conftest import free_port  # noqa: E402
from tests.support.media import start_rtsp_server, vtest_h264  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def config(out: Path, port: int, urls: list[str], console: bool) -> str:
    cams = "".join(
        f"""
  - id: cam{i + 1}
    source: "{url}"
    analysis_fps: 2
    zones:
      - id: no-parking
        polygon: [[600, 62], [730, 62], [730, 118], [600, 118]]
        policies: [{{type: illegal_parking, classes: [car, truck, bus], dwell_s: 4}}]
"""
        for i, url in enumerate(urls)
    )
    return f"""
site: {{timezone: Asia/Shanghai}}
model: {{manifest: {REPO_ROOT / "models" / "yolox_nano.yaml"}, batch_size: 8}}
daemon:
  out_dir: {out}
  http: {{port: {port}, console: {{enabled: {str(console).lower()}}}}}
cameras:{cams}
"""


def one_run(tmp: Path, urls: list[str], console: bool, warmup: float, seconds: float) -> float:
    """CPU seconds per wall second of one daemon run."""
    port = free_port()
    cfg = tmp / f"console-{console}.yaml"
    cfg.write_text(config(tmp / f"out-{console}", port, urls, console))
    log = (tmp / f"daemon-{console}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lookout.cli.main", "run", "--config", str(cfg)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
    )
    try:
        end = time.monotonic() + 60
        while True:  # up: every camera streaming
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    cams = json.loads(r.read())["cameras"]
                if all(c["frames_analysed"] > 0 for c in cams.values()):
                    break
            except OSError:
                pass
            if time.monotonic() > end:
                raise RuntimeError(f"daemon not streaming: {cfg}")
            time.sleep(0.5)
        time.sleep(warmup)
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(proc.pid), time.monotonic()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
    return (c1 - c0) / (t1 - t0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--warmup", type=float, default=25.0)
    p.add_argument("--cameras", type=int, default=8)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    clip = vtest_h264()
    mounts = {f"/cam{i}": clip for i in range(args.cameras)}
    rows: list[dict[str, float | int | bool]] = []
    with start_rtsp_server(mounts) as server, tempfile.TemporaryDirectory() as d:
        urls = [server.url(m) for m in mounts]
        for pair in range(args.pairs):
            order = (False, True) if pair % 2 == 0 else (True, False)
            for console in order:
                cpu = one_run(Path(d), urls, console, args.warmup, args.seconds)
                rows.append({"pair": pair, "console": console, "cpu": round(cpu, 4)})
                print(f"pair {pair} console={'on ' if console else 'off'} cpu={cpu:.3f} cores")
    on = [float(r["cpu"]) for r in rows if r["console"]]
    off = [float(r["cpu"]) for r in rows if not r["console"]]
    diffs = [a - b for a, b in zip(on, off, strict=True)]
    overhead = statistics.mean(on) / statistics.mean(off) - 1
    print(f"without console: {statistics.mean(off):.3f} cores (runs {off})")
    print(f"with console:    {statistics.mean(on):.3f} cores (runs {on})")
    print(f"paired differences (cores): {[round(x, 4) for x in diffs]}")
    print(f"overhead: {100 * overhead:+.2f} % of the daemon's CPU")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"rows": rows, "overhead": overhead, "cameras": args.cameras}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
