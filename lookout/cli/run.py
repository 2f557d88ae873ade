"""`lookout run --config FILE`: the headless daemon for live cameras (lookout/daemon/);
stops cleanly on SIGTERM or Ctrl-C, reloads on SIGHUP."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, type=Path, help="Configuration YAML.")
    p.add_argument("--log-format", choices=("text", "json"), help="Overrides daemon.log_format.")


def run(args: argparse.Namespace) -> int:
    from lookout.base.logs import setup_logging
    from lookout.daemon.service import Daemon

    daemon = Daemon.from_config(args.config)
    fmt = args.log_format or daemon.cfg.daemon.log_format
    setup_logging(logging.INFO - 10 * min(args.verbose, 1), fmt)
    daemon.install_signal_handlers()
    return daemon.run()
