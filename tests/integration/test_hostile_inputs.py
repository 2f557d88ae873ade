"""Hostile input (issue 15): every case runs the real `lookout` console script in a
fresh folder and either fails with ONE line on stderr naming the problem and where,
exit 2, or is survived (exit 0) with the damage counted or reported. Never a
traceback, and nothing is written outside `--out` (or the daemon's out_dir), the model
cache, or the files a command is documented to change (docs/TESTING.md, "Hostile
input", has the table of these cases: `python -m tests.integration.test_hostile_inputs` prints it).

The media (tests/support/hostile_media.py) are made once per session from real
footage; each case writes its own configs under its folder's `in/`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from tests.support.helpers import lookout_script, wait_until
from tests.support.hostile_media import MANIFEST, Media, build

#: About a minute in all (47 runs of the real command): in CI, not in the quick loop.
pytestmark = pytest.mark.slow

ROOT = os.geteuid() == 0
POLYGON = "[[0, 0], [320, 0], [320, 240], [0, 240]]"
CALIBRATION = """\
    calibration:
      default:
        points:
          - {image: [0, 240], lonlat: [114.0499, 22.5400]}
          - {image: [320, 240], lonlat: [114.0501, 22.5400]}
          - {image: [300, 60], lonlat: [114.0501, 22.5403]}
          - {image: [20, 60], lonlat: [114.0499, 22.5403]}
"""


def camera(cam_id: str = "cam1", extra: str = "", policy: str = "") -> str:
    policy = policy or "{type: illegal_parking, classes: [car], dwell_s: 30}"
    return (
        f"  - id: {cam_id}\n    analysis_fps: 5\n{extra}"
        f"    zones:\n      - id: z\n        polygon: {POLYGON}\n"
        f"        policies:\n          - {policy}\n"
    )


def config(cameras: str = "", head: str = "", manifest: Path | str = MANIFEST) -> str:
    return (
        'site: {replay_start: "2026-11-26T09:00:00+08:00"}\n'
        f"model: {{manifest: {manifest}}}\n{head}"
        "cameras:\n" + (cameras or camera())
    )


@dataclass
class Ctx:
    """What a case builds its command from: the shared media and its own folders."""

    media: Media
    inp: Path  # the case's own input files
    out: Path  # --out (or the daemon's out_dir)

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.inp / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def replay(self, video: Path | bytes, cfg: Path | bytes | None = None) -> list[str | bytes]:
        cfg = cfg if cfg is not None else self.write("ok.yaml", config())
        return ["replay", _arg(video), "--config", _arg(cfg), "--out", str(self.out)]

    def daemon_config(self, cameras: str, head: str = "") -> Path:
        daemon = f"daemon: {{out_dir: {self.out}, http: {{enabled: false}}}}\n"
        return self.write("daemon.yaml", config(cameras, daemon + head))


def _arg(p: Path | bytes) -> str | bytes:
    return p if isinstance(p, bytes) else str(p)


@dataclass(frozen=True)
class Case:
    """One hostile input: how to run it and what it must give.

    code 2: `needles` are in the one stderr line. code 0: they are in stdout+stderr
    (the damage counted or reported). `life_s`: a daemon, stopped with SIGTERM then."""

    id: str
    command: str  # for the README table
    what: str
    argv: Callable[[Ctx], list[str | bytes]]
    code: int
    needles: tuple[str, ...]
    life_s: float | None = None
    as_root: tuple[int, tuple[str, ...]] | None = None  # code, needles when run as root

    def expected(self) -> tuple[int, tuple[str, ...]]:
        return self.as_root if ROOT and self.as_root else (self.code, self.needles)


def _alias_bomb(key: str = "x-anchors") -> str:
    """Billion laughs: 9 levels of 9 aliases, 9**10 strings once expanded."""
    lines = [f"{key}:", '  - &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  - &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def _bomb_config(ctx: Ctx) -> Path:
    # An anchors section as docker-compose files have, its last alias used in a zone.
    text = _alias_bomb() + config().replace(f"polygon: {POLYGON}", "polygon: *a9")
    return ctx.write("bomb.yaml", text)


def _many_cameras(ctx: Ctx, n: int = 10_000) -> Path:
    """A site's camera list: ids and stream URLs; the last camera has a zone."""
    rows = [
        f"  - {{id: cam{i:05d}, source: 'rtsp://10.{i // 250}.{i % 250}.1/s'}}\n" for i in range(n)
    ]
    return ctx.write("many.yaml", config("".join(rows[:-1]) + camera(f"cam{n - 1:05d}")))


def _geojson(ctx: Ctx, coords: list[list[float]]) -> Path:
    feature = {
        "type": "Feature",
        "properties": {"code": "44030510100101", "name": "cell", "unit": "unit"},
        "geometry": {"type": "Polygon", "coordinates": [coords]},
    }
    grid = ctx.write(
        "grid.geojson", json.dumps({"type": "FeatureCollection", "features": [feature]})
    )
    return ctx.write("grid.yaml", config(camera(extra=CALIBRATION), f"grid: {{geojson: {grid}}}\n"))


SQUARE = [[114.0498, 22.5399], [114.0502, 22.5399], [114.0502, 22.5404], [114.0498, 22.5399]]


def _points(ctx: Ctx, body: str) -> list[str | bytes]:
    cfg = ctx.write("ok.yaml", config())
    pts = ctx.write("points.yaml", body)
    return ["calibrate", str(pts), "--config", str(cfg), "--camera", "cam1"]


def _pts(pairs: Sequence[tuple[tuple[float, float], tuple[float, float]]]) -> str:
    rows = [f"  - {{image: [{x}, {y}], lonlat: [{lo}, {la}]}}" for (x, y), (lo, la) in pairs]
    return "points:\n" + "\n".join(rows) + "\n"


GOOD_PAIRS = [
    ((0, 240), (114.0499, 22.5400)),
    ((320, 240), (114.0501, 22.5400)),
    ((300, 60), (114.0501, 22.5403)),
    ((20, 60), (114.0499, 22.5403)),
]


def _scenario(ctx: Ctx, video: Path, kind: str = "video") -> list[str | bytes]:
    cfg = ctx.write("ok.yaml", config())
    body = (
        f"name: hostile\nkind: {kind}\nvideo: {video}\n"
        'start: "2026-11-26T10:00:00+08:00"\ntruth: []\n'
    )
    if kind == "video":
        body += f"config: {cfg}\ncamera: cam1\n"
    else:
        body += "survey: {zone: z, polygon: [[0, 0], [100, 0], [100, 100]]}\n"
    return ["eval", str(ctx.write("scenario.yaml", body)), "--json", str(ctx.out / "eval.json")]


def _reference(ctx: Ctx, source: Path | str, *extra: str) -> list[str | bytes]:
    cfg = ctx.write("ok.yaml", config())
    return [
        "reference", "capture", "--config", str(cfg), "--camera", "cam1",
        "--source", str(source), "--out", str(ctx.out), "--timeout", "5", *extra,
    ]  # fmt: skip


def _non_utf8_copy(ctx: Ctx, src: Path, suffix: bytes) -> bytes:
    name = os.fsencode(ctx.inp) + b"/cam\xff\xfe-\xe9t\xe9" + suffix
    shutil.copyfile(src, name)
    return name


def _unreadable(ctx: Ctx) -> list[str | bytes]:
    path = ctx.inp / "locked.mp4"
    shutil.copyfile(ctx.media.ok, path)
    path.chmod(0)
    return ctx.replay(path)


def _wrong_size_reference(ctx: Ctx) -> list[str | bytes]:
    import cv2
    import numpy as np

    refs = ctx.out / "references"
    refs.mkdir(parents=True)
    cv2.imwrite(str(refs / "cam1_default_z.jpg"), np.zeros((100, 100, 3), np.uint8))
    policy = "{type: illegal_construction}"
    return ctx.replay(ctx.media.ok, ctx.write("c.yaml", config(camera(policy=policy))))


def _cut_model(ctx: Ctx) -> Path:
    manifest = MANIFEST.read_text(encoding="utf-8").replace(
        "${LOOKOUT_ASSETS}/models/yolox_nano.onnx", str(ctx.media.truncated_onnx)
    )
    assert str(ctx.media.truncated_onnx) in manifest
    return ctx.write("c.yaml", config(manifest=ctx.write("manifest.yaml", manifest)))


CASES: list[Case] = [
    # -- replay: videos -------------------------------------------------------------------
    Case("zero_byte_video", "replay", "0-byte video file",
         lambda c: c.replay(c.media.empty), 2, ("empty.mp4", "not a readable video")),
    Case("truncated_video", "replay", "MPEG-TS cut at 60%",
         lambda c: c.replay(c.media.truncated), 0, ("frames read:     1", "damaged:")),
    Case("random_bytes_video", "replay", "64 KiB of random bytes",
         lambda c: c.replay(c.media.random), 2, ("random.mp4", "not a readable video")),
    Case("h264_flipped_bits", "replay", "H.264 MP4, 200 bits flipped mid-stream",
         lambda c: c.replay(c.media.flipped), 0, ("damaged:",)),
    Case("moov_missing", "replay", "MP4 without its moov atom",
         lambda c: c.replay(c.media.no_moov), 2, ("no_moov.mp4", "not a readable video")),
    Case("audio_only", "replay", "AAC audio, no video stream",
         lambda c: c.replay(c.media.audio_only), 2, ("audio_only.m4a", "no video stream")),
    Case("zero_frames", "replay", "MP4 with a video stream but no frame",
         lambda c: c.replay(c.media.no_frames), 2, ("no_frames.mp4",)),
    Case("frame_1x1", "replay", "1×1 pixel frames",
         lambda c: c.replay(c.media.tiny), 0, ("1x1", "frames read:     3")),
    Case("frame_16k", "replay", "one 15360×8640 frame",
         lambda c: c.replay(c.media.huge), 0, ("15360x8640", "frames read:     1")),
    Case("jpeg_as_video", "replay", "a JPEG photo named .mp4",
         lambda c: c.replay(c.media.jpeg), 0, ("mjpeg", "frames read:     1")),
    Case("directory_as_video", "replay", "a folder given as the video",
         lambda c: c.replay(c.inp), 2, ("in", "folder")),
    Case("unreadable_video", "replay", "chmod 000 video (root reads it: exit 0)",
         _unreadable, 2, ("locked.mp4", "Permission denied"),
         as_root=(0, ("frames read:     20",))),
    Case("non_utf8_video_path", "replay", "video path with bytes that are not UTF-8",
         lambda c: c.replay(_non_utf8_copy(c, c.media.ok, b".mp4")), 0,
         ("frames read:     20",)),
    Case("non_utf8_config_path", "replay", "config path with bytes that are not UTF-8",
         lambda c: c.replay(c.media.ok, _non_utf8_copy(c, c.write("c.yaml", config()), b".yaml")),
         0, ("frames read:     20",)),
    Case("wrong_size_reference", "replay", "construction reference 100×100, frames 320×240",
         _wrong_size_reference, 0, ("cam1_default_z.jpg", "100x100", "320x240")),
    Case("truncated_onnx", "replay", "ONNX model file cut at half",
         lambda c: c.replay(c.media.ok, _cut_model(c)), 2, ("yolox_nano.onnx", "ONNX")),
    Case("manifest_missing", "replay", "model manifest file missing",
         lambda c: c.replay(c.media.ok, c.write("c.yaml", config(manifest=c.inp / "gone.yaml"))),
         2, ("model.manifest", "gone.yaml", "not found")),
    Case("camera_flag_traversal", "replay", "--camera ../../etc",
         lambda c: [*c.replay(c.media.ok), "--camera", "../../etc"], 2,
         ("'../../etc'", "not in the config")),
    Case("ten_thousand_cameras", "replay", "10,000 cameras in the config",
         lambda c: [*c.replay(c.media.ok, _many_cameras(c)), "--camera", "cam09999"], 0,
         ("camera:          cam09999",)),
    # -- configuration --------------------------------------------------------------------
    Case("yaml_alias_bomb", "replay", "YAML \"billion laughs\" (9 levels of 9 aliases)",
         lambda c: c.replay(c.media.ok, _bomb_config(c)), 2, ("bomb.yaml", "alias")),
    Case("config_is_a_list", "replay", "config whose top level is a YAML list",
         lambda c: c.replay(c.media.ok, c.write("list.yaml", "- cameras: []\n")), 2,
         ("list.yaml", "mapping")),
    Case("camera_id_dotdot", "replay", "camera id `../evil`",
         lambda c: c.replay(c.media.ok, c.write("c.yaml", config(camera("../evil")))), 2,
         ("cameras[0].id",)),
    Case("zone_id_dotdot", "replay", "construction zone id `../../escape`",
         lambda c: c.replay(c.media.ok, c.write("c.yaml", config(camera(
             policy="{type: illegal_construction}").replace("id: z", "id: ../../escape")))), 2,
         ("cameras[0].zones[0].id",)),
    Case("yaml_nested_deep", "replay", "YAML nested 100,000 levels deep",
         lambda c: c.replay(c.media.ok, c.write("deep.yaml", config().replace(
             "site: {", "x: " + "[" * 100_000 + "]" * 100_000 + "\nsite: {"))), 2,
         ("deep.yaml", "invalid YAML", "nesting")),
    Case("out_is_a_file", "replay", "--out names an existing file",
         lambda c: [*c.replay(c.media.ok)[:-2], "--out", str(c.write("file", "x"))], 2,
         ("file/cases.db", "cannot open the SQLite outbox")),
    Case("camera_id_separator", "replay", "camera id `a/b`",
         lambda c: c.replay(c.media.ok, c.write("c.yaml", config(camera("'a/b'")))), 2,
         ("cameras[0].id",)),
    Case("geojson_nan", "replay", "grid GeoJSON with a NaN coordinate",
         lambda c: c.replay(c.media.ok, _geojson(c, [*SQUARE[:2], [math.nan, 22.54], SQUARE[0]])),
         2, ("grid.geojson", "features[0]")),
    Case("geojson_swapped", "replay", "grid GeoJSON written [lat, lon]",
         lambda c: c.replay(c.media.ok, _geojson(c, [[la, lo] for lo, la in SQUARE])), 2,
         ("grid.geojson", "features[0]", "lat")),
    Case("env_var_missing", "replay", "`${LOOKOUT_HOSTILE_MISSING}` in a value",
         lambda c: c.replay(c.media.ok, c.write("c.yaml", config().replace(
             "site: {", 'site: {name: "${LOOKOUT_HOSTILE_MISSING}", '))),
         2, ("c.yaml", "LOOKOUT_HOSTILE_MISSING")),
    Case("huge_integer", "replay", "intra_op_threads: 10**30",
         lambda c: c.replay(c.media.ok, c.write("c.yaml", config().replace(
             "model: {manifest: ", "model: {runtime: {intra_op_threads: " + "1" + "0" * 30
             + "}, manifest: "))), 2, ("model.runtime.intra_op_threads",)),
    Case("nan_dwell", "replay", "dwell_s: .nan",
         lambda c: c.replay(c.media.ok, c.write("c.yaml", config(camera(
             policy="{type: illegal_parking, classes: [car], dwell_s: .nan}")))), 2,
         ("policies[0].dwell_s",)),
    Case("config_not_utf8", "replay", "config file bytes that are not UTF-8",
         lambda c: c.replay(c.media.ok, c.write("latin1.yaml", config().encode() + b"# \xe9\n")),
         2, ("latin1.yaml", "cannot read config")),
    # -- the daemon -----------------------------------------------------------------------
    Case("run_port_out_of_range", "run", "daemon.http.port: 70000",
         lambda c: ["run", "--config", str(c.write("c.yaml", config(
             camera(extra=f"    source: {c.media.ok}\n"),
             f"daemon: {{out_dir: {c.out}, http: {{port: 70000}}}}\n")))], 2,
         ("daemon.http.port", "65535")),
    Case("run_negative_dwell", "run", "dwell_s: -5",
         lambda c: ["run", "--config", str(c.daemon_config(camera(
             extra=f"    source: {c.media.ok}\n",
             policy="{type: illegal_parking, classes: [car], dwell_s: -5}")))], 2,
         ("policies[0].dwell_s",)),
    Case("run_damaged_sources", "run",
         "cameras on 0-byte, random, bit-flipped, audio-only and 1×1 files",
         lambda c: ["run", "--config", str(c.daemon_config("".join(
             camera(name, extra=f"    source: {path}\n")
             for name, path in [("zero", c.media.empty), ("noise", c.media.random),
                                ("flip", c.media.flipped), ("audio", c.media.audio_only),
                                ("tiny", c.media.tiny)])))], 0,
         ("camera zero: ", "camera noise: ", "Invalid data", "camera audio: ", "no video stream",
          "camera flip: ", "camera tiny: ", "ended", "lookout stopped"), life_s=60.0),
    # -- calibrate ------------------------------------------------------------------------
    Case("calibrate_nan_point", "calibrate", "a point pair with lon .nan",
         lambda c: _points(c, _pts(GOOD_PAIRS).replace("114.0499, 22.54", ".nan, 22.54", 1)), 2,
         ("points.yaml", "points[0]")),
    Case("calibrate_swapped_lonlat", "calibrate", "point pairs written [lat, lon]",
         lambda c: _points(c, _pts([(i, (la, lo)) for i, (lo, la) in GOOD_PAIRS])), 2,
         ("points.yaml", "points[0]", "want [lon, lat]")),
    Case("calibrate_collinear", "calibrate", "four image points on one line",
         lambda c: _points(c, _pts([((10 * k, 10 * k), p[1]) for k, p in enumerate(GOOD_PAIRS)])),
         2, ("points.yaml",)),
    Case("calibrate_alias_bomb", "calibrate", "points file that is an alias bomb",
         lambda c: _points(c, _alias_bomb() + _pts(GOOD_PAIRS)), 2, ("points.yaml", "alias")),
    Case("calibrate_ten_thousand_cameras", "calibrate", "10,000 cameras, the last one calibrated",
         lambda c: [*_points(c, _pts(GOOD_PAIRS))[:3], str(_many_cameras(c)),
                    "--camera", "cam09999"], 0, ("camera cam09999", "rms")),
    # -- eval -----------------------------------------------------------------------------
    Case("eval_random_video", "eval", "scenario footage of random bytes",
         lambda c: _scenario(c, c.media.random), 2, ("random.mp4", "not a readable video")),
    Case("eval_construction_zero_byte", "eval", "construction scenario on a 0-byte video",
         lambda c: _scenario(c, c.media.empty, "construction"), 2,
         ("empty.mp4", "not a readable video")),
    Case("eval_scenario_is_a_list", "eval", "scenario whose top level is a list",
         lambda c: ["eval", str(c.write("s.yaml", "- 1\n- 2\n"))], 2, ("s.yaml", "mapping")),
    # -- reference capture ----------------------------------------------------------------
    Case("reference_zero_byte", "reference capture", "--source a 0-byte file",
         lambda c: _reference(c, c.media.empty), 2, ("empty.mp4", "not a readable video")),
    Case("reference_flipped_bits", "reference capture", "--source H.264 with flipped bits",
         lambda c: _reference(c, c.media.flipped), 0, ("view reference for cam1",)),
    Case("reference_preset_traversal", "reference capture", "--preset ../../escape",
         lambda c: _reference(c, c.media.ok, "--preset", "../../escape"), 2,
         ("--preset", "../../escape")),
    Case("reference_out_is_a_file", "reference capture", "--out names an existing file",
         lambda c: _reference(c, c.media.ok, "--out", str(c.write("file", "x"))), 2,
         ("file/references", "cannot make the folder")),
]  # fmt: skip


# -- running a case ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Media:
    return build(tmp_path_factory.mktemp("hostile-media"), assets)


def _tree(root: Path, skip: tuple[Path, ...] = ()) -> dict[bytes, tuple[int, int]]:
    """Every file and folder under `root` (but `skip`): path → (size, mtime_ns) of a
    file, (0, 0) of a folder (whose mtime a removed temporary file changes)."""
    found: dict[bytes, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        dirnames[:] = [
            d for d in dirnames if Path(os.fsdecode(dirpath), os.fsdecode(d)) not in skip
        ]
        for name in [*dirnames, *filenames]:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            found[full] = (0, 0) if os.path.isdir(full) else (st.st_size, st.st_mtime_ns)
    return found


@dataclass
class Outcome:
    """A case's run: exit code, output, and what changed outside --out."""

    code: int
    stdout: str
    stderr: str
    took: float
    out_exists: bool
    stray: list[str]  # files added, changed or removed outside --out and the cache


def _collect(pipe: IO[bytes], lines: list[str]) -> None:
    lines.extend(line.decode(errors="backslashreplace") for line in pipe)


def _run(
    case: Case, argv: list[str | bytes], cwd: Path, env: dict[str, str]
) -> tuple[int, str, str]:
    cmd: list[str | bytes] = [str(lookout_script()), *argv]
    if case.life_s is None:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, timeout=120, check=False)
        return (
            proc.returncode,
            proc.stdout.decode(errors="backslashreplace"),
            proc.stderr.decode(errors="backslashreplace"),
        )
    # A daemon: stopped with SIGTERM once its log holds every needle but the last
    # (the shutdown line), or after `life_s`.
    with subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as popen:
        out: list[str] = []
        err: list[str] = []
        readers = [
            threading.Thread(target=_collect, args=(pipe, lines))
            for lines, pipe in ((out, popen.stdout), (err, popen.stderr))
        ]
        for reader in readers:
            reader.start()
        wait_until(
            lambda: popen.poll() is not None or all(n in "".join(err) for n in case.needles[:-1]),
            case.life_s,
            step=0.2,
        )
        popen.send_signal(signal.SIGTERM)
        popen.wait(timeout=30)
        for reader in readers:
            reader.join(5)
    return popen.returncode, "".join(out), "".join(err)


def _play(case: Case, media: Media, root: Path) -> Outcome:
    """Run one case in `root`: its inputs in `in/`, cwd `cwd/`, TMPDIR `tmp/`."""
    ctx = Ctx(media, root / "in", root / "out")
    cwd, tmp, cache = root / "cwd", root / "tmp", root / "cache"
    for folder in (ctx.inp, cwd, tmp, cache):
        folder.mkdir()
    argv = case.argv(ctx)
    before = _tree(root, (ctx.out, cache))
    env = {**os.environ, "TMPDIR": str(tmp), "LOOKOUT_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    env.pop("LOOKOUT_HOSTILE_MISSING", None)
    t0 = time.monotonic()
    code, stdout, stderr = _run(case, argv, cwd, env)
    took = time.monotonic() - t0
    # ONNX Runtime's telemetry library notes its first start in `$TMPDIR/.ses` when it
    # is imported, before any code of ours runs: the one file allowed there.
    (tmp / ".ses").unlink(missing_ok=True)
    after = _tree(root, (ctx.out, cache))
    stray = sorted(
        os.fsdecode(p) for p in before.keys() | after.keys() if before.get(p) != after.get(p)
    )
    return Outcome(code, stdout, stderr, took, ctx.out.exists(), stray)


@pytest.fixture(scope="session")
def outcomes(
    request: pytest.FixtureRequest, media: Media, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome | BaseException]:
    """The selected cases, run a few at a time (each is a short-lived process that
    mostly imports, or a daemon that waits): the whole table in well under a minute."""
    wanted = {
        item.callspec.id
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.originalname == "test_hostile_input"
    }
    media_before = _tree(media.root)
    results: dict[str, Outcome | BaseException] = {}

    order = sorted((c for c in CASES if c.id in wanted), key=lambda c: -(c.life_s or 0))
    roots = {c.id: tmp_path_factory.mktemp(c.id) for c in order}

    def play(case: Case) -> None:
        try:
            results[case.id] = _play(case, media, roots[case.id])
        except BaseException as exc:  # reported by the case's own test
            results[case.id] = exc

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        list(pool.map(play, order))  # the daemon (the slowest) first
    assert _tree(media.root) == media_before, "a case changed the shared media"
    return results


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_hostile_input(case: Case, outcomes: dict[str, Outcome | BaseException]) -> None:
    result = outcomes[case.id]
    if isinstance(result, BaseException):
        raise result
    stderr = result.stderr
    code, needles = case.expected()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert result.code == code, (
        f"exit {result.code} ({result.took:.1f} s); stderr: {stderr[-2000:]!r}"
    )
    if code == 2:
        lines = stderr.splitlines()
        assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {stderr[-2000:]!r}"
        assert lines[0].startswith("lookout: error: "), lines[0]
        for needle in needles:
            assert needle in lines[0], f"{needle!r} not named in {lines[0]!r}"
        assert not result.out_exists, "a refused input left an output folder"
    else:
        both = result.stdout + stderr
        for needle in needles:
            assert needle in both, f"{needle!r} not in the output: {both[-3000:]!r}"
    # Nothing written outside --out / out_dir and the cache; temporary files cleaned up.
    assert result.stray == []


def readme_table() -> str:
    """docs/TESTING.md's table of hostile inputs, from CASES (as a user, not root)."""
    rows = ["| command | input | gives |", "| --- | --- | --- |"]
    for c in CASES:
        said = ", ".join(f"`{n.strip()}`" for n in c.needles[:3])
        result = f"exit 2, one line: {said}" if c.code == 2 else f"exit 0: {said}"
        rows.append(f"| {c.command} | {c.what} | {result} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(readme_table())
