from __future__ import annotations

from pathlib import Path

import pytest

from lookout.base.errors import ConfigError
from lookout.base.paths import REPO_ROOT
from lookout.config.app import load_config

MINIMAL = """
model: {manifest: ../models/yolox_nano.yaml}
cameras:
  - id: cam1
    zones:
      - id: z
        polygon: [[0, 0], [100, 0], [100, 100], [0, 100]]
        policies:
          - {type: illegal_parking, classes: [car], dwell_s: 30}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_demo_config_loads() -> None:
    cfg = load_config(REPO_ROOT / "configs" / "demo.yaml")
    assert cfg.cameras[0].id == "vtest"
    assert cfg.path(cfg.model.manifest) == REPO_ROOT / "models" / "yolox_nano.yaml"
    assert cfg.site.replay_start is not None
    assert {s.type for s in cfg.sinks} == {"sqlite", "jsonl"}


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.site.timezone == "Asia/Shanghai"
    assert cfg.codes["illegal_parking"].code
    assert cfg.cameras[0].analysis_fps > 0


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(Exception, match="frozen"):
        cfg.cameras[0].zones[0].inertia_frames = 5


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("dwell_s: 30", "dwell_s: -3"),
            r"cameras\[0\]\.zones\[0\]\.policies\[0\]\.dwell_s: .*greater",
        ),
        (("dwell_s: 30", "dwell_s: 30, colour: red"), r"policies\[0\]\.colour: unknown key"),
        ((", [100, 100], [0, 100]]", "]"), r"polygon: .*at least 3 points"),
        (
            (
                "[[0, 0], [100, 0], [100, 100], [0, 100]]",
                "[[0, 0], [100, 100], [100, 0], [0, 100]]",
            ),
            r"polygon: invalid polygon \(Self-intersection",
        ),
        (("illegal_parking", "illegal_picnic"), r"policies\[0\]: Input tag 'illegal_picnic'"),
        (("id: cam1", "id: 'cam 1'"), r"cameras\[0\]\.id: String should match"),
    ],
)
def test_invalid_values_name_file_and_key(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    p = write(tmp_path, MINIMAL.replace(*edit))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(p)
    text = str(info.value)
    assert text.startswith(str(p)) and "\n" not in text


def test_invalid_yaml_gives_line_and_column(tmp_path: Path) -> None:
    p = write(tmp_path, "model: {manifest: x\ncameras: [\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+:\d+: invalid YAML"):
        load_config(p)


def test_missing_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="YAML mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_unknown_camera_is_named(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError, match=r"camera 'cam9' is not in the config \(known: cam1\)"):
        cfg.camera("cam9")


def test_duplicate_camera_ids(tmp_path: Path) -> None:
    text = MINIMAL + "  - id: cam1\n"
    with pytest.raises(ConfigError, match="duplicate camera id 'cam1'"):
        load_config(write(tmp_path, text))


def test_bad_time_zone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"site\.timezone: unknown time zone"):
        load_config(write(tmp_path, "site: {timezone: Mars/Olympus}\n" + MINIMAL))


@pytest.mark.parametrize("name", ["demo.yaml", "live-example.yaml"])
def test_shipped_configs_are_valid(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # live-example.yaml takes its credentials from the environment (`${VAR}`).
    monkeypatch.setenv("GATE_EAST_PASSWORD", "gate-secret")
    monkeypatch.setenv("TOWER3_ONVIF_PASSWORD", "tower-secret")
    cfg = load_config(REPO_ROOT / "configs" / name)
    assert cfg.cameras
    for cam in cfg.cameras:
        assert cam.source or cam.onvif is not None


def test_redis_ca_files_are_relative_to_the_config(tmp_path: Path) -> None:
    cfg_path = tmp_path / "site" / "lookout.yaml"
    cfg_path.parent.mkdir()
    cfg_path.write_text(
        """
model: {manifest: m.yaml}
dedup:
  store: {type: redis, url: "rediss://127.0.0.1:6380/0", ssl_ca_certs: tls/ca.pem}
sinks:
  - {type: sqlite, path: cases.db}
  - {type: redis_stream, url: "rediss://127.0.0.1:6380/0", ssl_ca_certs: /etc/ssl/ca.pem}
  - {type: redis_stream, name: second, url: "rediss://127.0.0.1:6380/1",
     ssl_ca_certs: ../ca2.pem}
cameras: [{id: cam1, source: rtsp://127.0.0.1:8554/cam1}]
"""
    )
    cfg = load_config(cfg_path)
    assert cfg.dedup.store.ssl_ca_certs == str(tmp_path / "site" / "tls" / "ca.pem")
    cas = [getattr(s, "ssl_ca_certs", None) for s in cfg.sinks]
    assert cas == [None, "/etc/ssl/ca.pem", str(tmp_path / "ca2.pem")]
    assert cfg.path("x") == tmp_path / "site" / "x"  # the copy keeps the file's folder


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("    zones:\n", "    preset_detect: {'<b>x</b>': {}}\n    zones:\n"),
            "preset '<b>x</b>'",
        ),
        (
            ("    zones:\n", "    calibration: {'east gate': {}}\n    zones:\n"),
            "preset 'east gate'",
        ),
        (
            ("      - id: z\n", '      - id: z\n        preset: "a\\u0007"\n'),
            r"zones\[0\]\.preset: String should match",
        ),
    ],
)
def test_preset_names_keep_the_id_alphabet(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    text = MINIMAL.replace(*edit)
    assert text != MINIMAL
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))
    # A CJK preset name is fine (the alphabet is any script's letters).
    ok = MINIMAL.replace("    zones:\n", "    preset_detect: {东门路口: {}}\n    zones:\n")
    assert "东门路口" in load_config(write(tmp_path, ok)).cameras[0].preset_detect
