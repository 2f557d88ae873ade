"""Three `lookout run` daemons share 12 file cameras (paced in real time) through one
real redis-server: `kill -9` one and its cameras run on the other two within ttl + one
renewal; `SIGSTOP` another past its ttl and it drops its cameras on `SIGCONT` within a
renewal. The parked van of every camera is one case, by id in the Redis stream, before
and after the moves.

The lease ttl here is 4 s (renewal every 1.33 s), not the default 10 s, to keep the
test short; the bounds are checked as multiples of it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from lookout.base.paths import REPO_ROOT
from tests.support.config import write_config
from tests.support.helpers import free_port, wait_until
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timing]

VAN_ZONE = [[600, 62], [730, 62], [730, 118], [600, 118]]
TTL = 4.0
RENEW = TTL / 3
CAMERAS = [f"cam{i:02d}" for i in range(12)]
BOXES = ("a", "b", "c")


def camera(cam_id: str, source: Path) -> dict[str, Any]:
    """A file camera on `source` (looping, keyframes at 1 frame/s) watching the van."""
    return {
        "id": cam_id,
        "source": str(source),
        "analysis_fps": 1,
        "stream": {"loop": True, "stall_timeout_s": 3, "analysis_mode": "keyframes"},
        "zones": [
            {
                "id": "no-parking",
                "polygon": VAN_ZONE,
                "policies": [
                    {"type": "illegal_parking", "classes": ["car", "truck", "bus"], "dwell_s": 3}
                ],
            }
        ],
    }


def calibrated_camera(i: int, source: Path) -> dict[str, Any]:
    # Each camera looks at its own street: the van is at a different ground point.
    lon, lat = 116.30 + 0.01 * i, 39.90
    pts = [((0, 0), (lon, lat + 0.0006)), ((768, 0), (lon + 0.0008, lat + 0.0006))]
    pts += [((768, 576), (lon + 0.0008, lat)), ((0, 576), (lon, lat))]
    points = [{"image": list(xy), "lonlat": list(ll)} for xy, ll in pts]
    return {**camera(f"cam{i:02d}", source), "calibration": {"default": {"points": points}}}


def box_config(box: str, out: Path, port: int, cameras: list[dict[str, Any]]) -> Path:
    """The config of box `box` (beside its out_dir `out`): its HTTP port, Redis from
    `${LOOKOUT_TEST_REDIS}` for the dedup store, the case stream and the leases."""
    redis_url = "${LOOKOUT_TEST_REDIS}"
    return write_config(
        out.parent,
        cameras,
        name=f"{box}.yaml",
        site={"timezone": "Asia/Shanghai"},
        model={"batch_size": 4, "runtime": {"intra_op_threads": 1}},
        daemon={"out_dir": str(out), "http": {"port": port, "console": {"enabled": False}}},
        dedup={"cooldown_s": 600, "store": {"type": "redis", "url": redis_url}},
        sinks=[
            {"type": "sqlite"},
            {"type": "redis_stream", "url": redis_url, "stream": "lookout:cases"},
        ],
        cluster={
            "url": redis_url,
            "box_id": box,
            "lease_ttl_s": TTL,
            "hold_down_s": 2,
            "move_every_s": 0.3,
        },
    )


def calibrated_config(box: str, out: Path, port: int, source: Path) -> Path:
    """Twelve calibrated cameras (`CAMERAS`), each on its own street."""
    return box_config(box, out, port, [calibrated_camera(i, source) for i in range(len(CAMERAS))])


def health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return body


def running(port: int) -> set[str]:
    """Cameras analysing on this daemon (streaming, frames analysed)."""
    try:
        cams = health(port)["cameras"]
    except OSError:
        return set()
    return {c for c, s in cams.items() if s["state"] == "streaming" and s["frames_analysed"] > 0}


def start_box(box: str, cfg: Path, tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`lookout run` of one box on its config file, logging to tmp_path/<box>.log."""
    with (tmp_path / f"{box}.log").open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "lookout.cli.main", "run", "--config", str(cfg)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env=env,
        )


def stop_boxes(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Terminate every box (a paused one is woken first), killing what will not stop."""
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.terminate()
    for p in procs.values():
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Fleet:
    """The boxes of one test: a port and a log each, started on their own config file
    (`config(box, out_dir, port)` writes it), stopped together."""

    def __init__(self, boxes: tuple[str, ...], tmp_path: Path, redis_url: str) -> None:
        self.boxes = boxes
        self.tmp_path = tmp_path
        self.ports = {b: free_port() for b in boxes}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {**os.environ, "LOOKOUT_TEST_REDIS": redis_url}

    def start(self, config: Callable[[str, Path, int], Path]) -> None:
        for b in self.boxes:
            cfg = config(b, self.tmp_path / f"out-{b}", self.ports[b])
            self.procs[b] = start_box(b, cfg, self.tmp_path, self.env)

    def settled(self, cameras: list[str]) -> bool:
        """Every box holds some cameras and together exactly `cameras`."""
        held = [running(self.ports[b]) for b in self.boxes]
        return all(held) and sorted(c for h in held for c in h) == cameras

    def log(self, box: str) -> str:
        return (self.tmp_path / f"{box}.log").read_text()

    def log_tail(self) -> str:
        return "\n".join(f"--- {b}\n{self.log(b)[-2000:]}" for b in self.boxes)

    def stop(self) -> None:
        stop_boxes(self.procs)


def stream_cases(r: redis.Redis) -> list[tuple[str, str]]:
    """(case id, camera) of every new-case entry in the stream."""
    out = []
    entries: list[tuple[str, dict[str, str]]] = r.xrange("lookout:cases")  # type: ignore[assignment]
    for _eid, fields in entries:
        if fields.get("kind") == "case":
            out.append((fields["id"], str(json.loads(fields["case"])["camera_id"])))
    return out


def test_kill_and_pause_move_cameras_and_lose_or_duplicate_no_case(
    private_redis: RedisServer, assets: Path, tmp_path: Path
) -> None:
    server = private_redis
    source = assets / "footage" / "vtest.avi"
    r = redis.Redis.from_url(server.url, decode_responses=True)
    fleet = Fleet(BOXES, tmp_path, server.url)
    ports, procs, log_tail = fleet.ports, fleet.procs, fleet.log_tail
    try:
        fleet.start(lambda b, out, port: calibrated_config(b, out, port, source))
        # Shared out (each box holds some), every camera running, every van one case.
        assert wait_until(lambda: fleet.settled(CAMERAS), 60, 0.5), log_tail()
        assert wait_until(lambda: len(stream_cases(r)) >= len(CAMERAS), 30), log_tail()
        before = stream_cases(r)

        # kill -9 c: its cameras run on a and b within ttl + one renewal (+ opening).
        c_cams = running(ports["c"])
        assert c_cams
        procs["c"].kill()
        t_kill, wall_kill = time.monotonic(), time.time()
        assert wait_until(
            lambda: running(ports["a"]) | running(ports["b"]) == set(CAMERAS), 3 * TTL, 0.1
        ), log_tail()
        failover_s = time.monotonic() - t_kill
        # SIGSTOP b past its ttl: its cameras move to a; on SIGCONT b drops them.
        b_cams = running(ports["b"])
        assert b_cams
        procs["b"].send_signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        assert wait_until(lambda: running(ports["a"]) == set(CAMERAS), 3 * TTL, 0.1), log_tail()
        moved_s = time.monotonic() - t_stop
        procs["b"].send_signal(signal.SIGCONT)
        t_cont = time.monotonic()

        def b_dropped() -> bool:
            try:
                return not (set(health(ports["b"])["cameras"]) & b_cams)
            except OSError:
                return False

        assert wait_until(b_dropped, RENEW + 1.0, 0.05), log_tail()
        dropped_s = time.monotonic() - t_cont
        # The vans of c's cameras seen again by their new boxes, past the dwell: merged
        # into the case c made (the shared place's last sighting moves on), no new case.
        c_cases = [cid for cid, cam in before if cam in c_cams]

        def seen_again() -> bool:
            last = [r.hget(f"lookout:place:{cid}", "last_seen") for cid in c_cases]
            return all(v is not None and float(v) > wall_kill for v in last)

        assert wait_until(seen_again, 20, 0.5), log_tail()
        after = stream_cases(r)
    finally:
        fleet.stop()
        r.close()
    print(
        f"failover {failover_s:.1f} s ({len(c_cams)} cameras), pause moved in {moved_s:.1f} s,"
        f" dropped after SIGCONT in {dropped_s:.2f} s"
    )
    assert failover_s <= TTL + RENEW + 2.0  # + opening the file and a first analysed frame
    ids = [cid for cid, _ in after]
    per_camera = sorted(cam for _, cam in after)
    assert per_camera == CAMERAS, f"lost or duplicated: {per_camera}"  # one case per van
    assert len(set(ids)) == len(ids) == len(CAMERAS)
    assert after[: len(before)] == before
    for b in ("a", "b"):
        assert "Traceback" not in fleet.log(b), log_tail()


# -- Redis restarted, then a box killed, with uncalibrated cameras ---------------------------
U_CAMERAS = [f"ucam{i}" for i in range(4)]


def uncalibrated_config(box: str, out: Path, port: int, source: Path) -> Path:
    """Two boxes, four cameras without a calibration: their cases are deduped in image
    space only, so a move is survived by the state shared in Redis alone."""
    return box_config(box, out, port, [camera(cid, source) for cid in U_CAMERAS])


def present(port: int) -> set[str] | None:
    """Cameras that exist on this daemon (running or starting); None: no answer."""
    try:
        return set(health(port)["cameras"])
    except OSError:
        return None


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


class Overlap:
    """Polls the boxes every 0.1 s and records, per camera, how long it ran on two
    boxes at once and how long on none."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports
        self.both: dict[str, float] = {}
        self.none: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        since_both: dict[str, float] = {}
        since_none: dict[str, float] = {}
        while not self.stop.wait(0.1):
            views = [present(p) for p in self.ports.values()]
            if any(v is None for v in views):
                continue
            now = time.monotonic()
            for cam in U_CAMERAS:
                n = sum(cam in v for v in views if v is not None)
                for cond, since, worst in (
                    (n > 1, since_both, self.both),
                    (n == 0, since_none, self.none),
                ):
                    if cond:
                        start = since.setdefault(cam, now)
                        worst[cam] = max(worst.get(cam, 0.0), now - start)
                    else:
                        since.pop(cam, None)


def test_redis_restart_keeps_cameras_single_and_an_uncalibrated_move_makes_no_second_case(
    private_redis: RedisServer, assets: Path, tmp_path: Path
) -> None:
    server = private_redis  # restarted below
    source = assets / "footage" / "vtest.avi"
    r = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=2)
    boxes = ("a", "b")
    fleet = Fleet(boxes, tmp_path, server.url)
    ports, procs, log_tail = fleet.ports, fleet.procs, fleet.log_tail
    overlap = Overlap(ports)
    try:
        fleet.start(lambda b, out, port: uncalibrated_config(b, out, port, source))
        assert wait_until(lambda: fleet.settled(U_CAMERAS), 60, 0.5), log_tail()
        assert wait_until(lambda: len(stream_cases(r)) >= len(U_CAMERAS), 30), log_tail()
        before = stream_cases(r)
        overlap.thread.start()
        analysed = {
            b: sum(s["frames_analysed"] for s in health(ports[b])["cameras"].values())
            for b in boxes
        }
        # Redis restarts empty (no persistence): leases, heartbeats, shared state, stream.
        server.stop()
        time.sleep(1.0)
        server.start()
        r.connection_pool.disconnect()

        def reacquired() -> bool:
            return all(r.exists(f"{{lookout}}:lease:{c}") for c in U_CAMERAS) and fleet.settled(
                U_CAMERAS
            )

        assert wait_until(reacquired, 3 * TTL, 0.1), log_tail()
        t_back = time.monotonic()

        def analysing() -> bool:  # both boxes go on analysing
            now = {
                b: sum(s["frames_analysed"] for s in health(ports[b])["cameras"].values())
                for b in boxes
            }
            return all(now[b] > analysed[b] + 2 for b in boxes)

        assert wait_until(analysing, 15, 0.5), log_tail()
        while time.monotonic() - t_back < 2 * RENEW:  # a late overlap would show by now
            time.sleep(0.1)
        overlap.stop.set()
        overlap.thread.join(2)
        both, none = dict(overlap.both), dict(overlap.none)
        # The van was parked through it: the shared state was written back, no new case.
        assert all(r.hlen(f"{{lookout}}:seen:{c}") == 1 for c in U_CAMERAS), log_tail()
        # kill -9 the box with more cameras: the other one resumes the vans' stops and
        # merges them into the cases the dead box made.
        dead = max(boxes, key=lambda b: len(running(ports[b])))
        alive = next(b for b in boxes if b != dead)
        dead_cams = running(ports[dead])
        procs[dead].kill()
        wall_kill = time.time()
        assert wait_until(lambda: running(ports[alive]) == set(U_CAMERAS), 3 * TTL, 0.1), log_tail()
        dead_cases = {cam: cid for cid, cam in before if cam in dead_cams}

        def seen_again() -> bool:
            for cam, cid in dead_cases.items():
                raw = r.hget(f"{{lookout}}:seen:{cam}", cid)
                if raw is None or json.loads(raw)["last_seen"] <= wall_kill:
                    return False
            return True

        assert wait_until(seen_again, 20, 0.5), log_tail()
        resumed = metric(ports[alive], 'lookout_cluster_shared_state_total{event="resumed"}')
        merged = metric(ports[alive], 'lookout_cluster_shared_state_total{event="merged"}')
        after = stream_cases(r)  # the stream restarted empty with Redis: new cases only
    finally:
        overlap.stop.set()
        fleet.stop()
        r.close()
    print(
        f"redis restart: longest on two boxes {max(both.values(), default=0.0):.2f} s, "
        f"on none {max(none.values(), default=0.0):.2f} s; after the kill {len(dead_cams)} "
        f"camera(s) moved, {resumed:g} stop(s) resumed, {merged:g} event(s) merged"
    )
    assert max(both.values(), default=0.0) <= RENEW, both
    assert sorted(cam for _, cam in before) == U_CAMERAS
    assert after == [], f"a second case: {after}"  # 0 duplicated
    assert resumed >= len(dead_cams) and merged >= len(dead_cams)
    for b in boxes:
        assert "Traceback" not in fleet.log(b), log_tail()
