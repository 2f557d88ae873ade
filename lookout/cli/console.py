"""`lookout console --config FILE [--source VIDEO]`: the console without live cameras.

Runs the daemon itself (same analysis, same console) with every camera's source
replaced by a recorded file — VIDEO, or the camera's own file source — read in a loop
and paced in real time by the live reader (streams/live_reader.py), so the pages show
moving pictures, detections and cases as they would on site. ONVIF/PTZ is dropped,
remote sinks too (a demo must not deliver cases), and the output goes to `--out`
(default `out/console`), not the site's outbox.

`lookout console --hash-password` reads a password on stdin and prints the value to
put in `daemon.http.console.operator_password` / `viewer_password` (or the variable
they name) instead of the plain password.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from lookout.base.errors import ConfigError
from lookout.base.passwords import hash_password
from lookout.base.yamlfile import format_validation_error
from lookout.cases.settings import JsonlSinkConfig, SqliteSinkConfig
from lookout.config.app import AppConfig
from lookout.config.daemon import HttpConfig
from lookout.streams.connection import is_file_source


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="Configuration YAML (cameras, zones, console).")
    p.add_argument(
        "--source", type=Path, help="Recorded video for every camera (default: their own files)."
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("out/console"),
        help="Output folder for cases, evidence and the history (default: out/console).",
    )
    p.add_argument("--host", help="Overrides daemon.http.host (default 127.0.0.1).")
    p.add_argument("--port", type=int, help="Overrides daemon.http.port (0: a free port).")
    p.add_argument(
        "--hash-password",
        action="store_true",
        help="Read a password on stdin, print its scrypt hash for the config, exit.",
    )


def prepare(
    config: Path,
    source: Path | None,
    out: Path,
    host: str | None = None,
    port: int | None = None,
) -> Callable[[AppConfig], AppConfig]:
    """The config change `lookout console` makes to every config it loads."""
    video = None if source is None else str(source.resolve())

    def change(cfg: AppConfig) -> AppConfig:
        cams = []
        for cam in cfg.cameras:
            src = video
            if src is None:
                if not cam.source or not is_file_source(cam.source):
                    raise ConfigError(
                        f"{config}: cameras[{cam.id}].source: not a recorded file; "
                        "give lookout console --source VIDEO"
                    )
                src = str(cfg.path(cam.source))
            stream = cam.stream.model_copy(update={"loop": True, "snapshot_source": None})
            cams.append(cam.model_copy(update={"source": src, "onvif": None, "stream": stream}))
        sinks = [s for s in cfg.sinks if isinstance(s, JsonlSinkConfig | SqliteSinkConfig)]
        http = cfg.daemon.http.model_dump()
        http.update({"enabled": True})
        if host is not None:
            http["host"] = host
        if port is not None:
            http["port"] = port
        try:
            new_http = HttpConfig.model_validate(http)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(f"{config}: daemon.http", exc)) from None
        daemon = cfg.daemon.model_copy(update={"out_dir": str(out.resolve()), "http": new_http})
        return cfg.model_copy(update={"cameras": cams, "sinks": sinks, "daemon": daemon})

    return change


def run(args: argparse.Namespace) -> int:
    """The `console` subcommand."""
    if args.hash_password:
        prompt = sys.stdin.isatty()
        password = getpass.getpass("password: ") if prompt else sys.stdin.readline()
        password = password.rstrip("\r\n")
        if not password:
            raise ConfigError("--hash-password: empty password on stdin")
        print(hash_password(password))
        return 0
    if args.config is None:
        raise ConfigError("lookout console: --config FILE is required")
    from lookout.base.logs import setup_logging
    from lookout.daemon.service import Daemon
    from lookout.streams.file_reader import FileReader

    if args.source is not None:
        FileReader.probe(args.source)  # fail fast on a missing or unreadable file
    change = prepare(args.config, args.source, args.out, args.host, args.port)
    daemon = Daemon.from_config(args.config, prepare=change)
    setup_logging(logging.INFO - 10 * min(args.verbose, 1), daemon.cfg.daemon.log_format)
    daemon.install_signal_handlers()
    return daemon.run()
