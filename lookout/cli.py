"""The `lookout` command line.

Subcommands:
  replay VIDEO --config FILE [--camera ID] [--out DIR]   analyse a recorded file
  run --config FILE                                       the daemon for live cameras
  console --config FILE [--source VIDEO]                  the web console on a recording
  cases list [--out DIR | --db FILE] [--type T] [--json]  read the SQLite outbox
  cases verdict ID --verdict V [--by NAME] [--note TEXT]  an operator's verdict
  cases prune --config FILE [--dry-run]                   retention of evidence and rows
  report --from DATE --to DATE [--config FILE | --out DIR] the period report
  cluster status --config FILE [--json]                   boxes and camera leases

User errors print one line on stderr and exit with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookout.base.errors import LookoutError, SourceError
from lookout.base.events import EVENT_TYPES
from lookout.base.memory import prepare_process
from lookout.config import load_config
from lookout.logs import setup_logging

EXIT_USAGE = 2
log = logging.getLogger("lookout")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's default prints the usage block too; keep to one line.
        self.exit(EXIT_USAGE, f"lookout: error: {message} (see --help)\n")


VERBOSE_HELP = "More log output (-v info, -vv debug); also after the subcommand."


def _verbosity() -> argparse.ArgumentParser:
    """Parent parser of every subcommand: -v/--verbose after the subcommand too. SUPPRESS
    keeps a subcommand from resetting the count given before it."""
    v = argparse.ArgumentParser(add_help=False)
    v.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return v


if TYPE_CHECKING:
    _SubParsersAction = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsersAction = argparse._SubParsersAction


class _Subcommands(_SubParsersAction):
    """Subcommands that all take -v/--verbose, its counts adding up across levels
    (`lookout -v cases -v list -v` is 3). argparse parses a subcommand into a fresh
    namespace and copies it over the parent's, which would replace the count."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("parents", [_verbosity()])
        return super().add_parser(name, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        before = getattr(namespace, "verbose", 0)
        namespace.verbose = 0  # stays 0 unless the subcommand's own -v sets it
        super().__call__(parser, namespace, values, option_string)
        namespace.verbose += before


def _iso(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lookout", description="Rooftop camera analytics → draft cases.")
    p.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, action=_Subcommands)

    r = sub.add_parser("replay", help="Analyse a recorded video file.")
    r.add_argument("video", type=Path, help="Video file (anything FFmpeg reads).")
    r.add_argument("--config", required=True, type=Path, help="Configuration YAML.")
    r.add_argument("--camera", help="Camera id in the config (needed when it has several).")
    r.add_argument("--out", type=Path, default=Path("out"), help="Output folder (default: out).")
    r.add_argument("--start", type=_iso, help="Wall-clock time of the first frame (ISO 8601).")
    r.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="Always show the progress bar (default: only on a terminal).",
    )
    r.add_argument(
        "--no-progress", dest="progress", action="store_false", help="Never show the progress bar."
    )

    d = sub.add_parser("run", help="Run the daemon for the live cameras of a config.")
    d.add_argument("--config", required=True, type=Path, help="Configuration YAML.")
    d.add_argument("--log-format", choices=("text", "json"), help="Overrides daemon.log_format.")

    w = sub.add_parser(
        "console", help="Serve the web console on a recorded file instead of live cameras."
    )
    from lookout.console.replay import add_arguments as console_arguments

    console_arguments(w)

    b = sub.add_parser("bench", help="Benchmark runner: simulated cameras vs bare ONNX Runtime.")
    from lookout.bench_run import add_arguments

    add_arguments(b)

    k = sub.add_parser("calibrate", help="Fit a camera's ground calibration from point pairs.")
    from lookout.calibrate import add_arguments as calibrate_arguments

    calibrate_arguments(k)

    g = sub.add_parser(
        "regions", help="Draw a camera's region plan on a frame; print what it sees."
    )
    from lookout.regions_cli import add_arguments as regions_arguments

    regions_arguments(g)

    e = sub.add_parser("eval", help="Score scenarios against their ground truth.")
    e.add_argument("scenarios", nargs="+", type=Path, help="Scenario YAML files.")
    e.add_argument("--json", type=Path, help="Write the scores as JSON here.")
    e.add_argument(
        "--baseline",
        type=Path,
        help="Fail (exit 1) when a precision or recall is below this baseline.",
    )
    e.add_argument(
        "--update-baseline",
        action="store_true",
        help="Write the scores as the new baseline (with --baseline).",
    )

    ref = sub.add_parser("reference", help="Construction reference views.")
    rsub = ref.add_subparsers(
        dest="reference_command", required=True, parser_class=_Parser, action=_Subcommands
    )
    from lookout.reference import add_arguments as reference_arguments

    reference_arguments(
        rsub.add_parser("capture", help="Take the camera's current view as the reference.")
    )

    c = sub.add_parser("cases", help="Read draft cases from an outbox.")
    csub = c.add_subparsers(
        dest="cases_command", required=True, parser_class=_Parser, action=_Subcommands
    )
    cl = csub.add_parser("list", help="List draft cases.")
    cl.add_argument("--out", type=Path, default=Path("out"), help="Output folder of a replay.")
    cl.add_argument("--db", type=Path, help="SQLite outbox file (default: OUT/cases.db).")
    cl.add_argument("--type", choices=EVENT_TYPES, help="Only this event type.")
    cl.add_argument("--limit", type=int, help="At most this many cases.")
    cl.add_argument("--json", action="store_true", help="One JSON object per line.")
    from lookout.cases_cli import add_prune_arguments, add_verdict_arguments

    add_verdict_arguments(csub.add_parser("verdict", help="Record an operator's verdict."))
    add_prune_arguments(
        csub.add_parser("prune", help="Delete old evidence and outbox rows (retention).")
    )

    rp = sub.add_parser("report", help="Period report: HTML with charts, and CSV.")
    from lookout.report import add_arguments as report_arguments

    report_arguments(rp)

    cu = sub.add_parser("cluster", help="Several boxes sharing the cameras (cluster:).")
    cusub = cu.add_subparsers(
        dest="cluster_command", required=True, parser_class=_Parser, action=_Subcommands
    )
    from lookout.cluster_cli import add_arguments as cluster_arguments

    cluster_arguments(cusub.add_parser("status", help="Boxes, heartbeats, leases, load."))
    return p


def _choose_camera(cfg_cameras: Sequence[str], wanted: str | None, config: Path) -> str:
    if wanted is not None:
        if wanted not in cfg_cameras:
            raise LookoutError(
                f"{config}: --camera {wanted!r} is not in the config "
                f"(known: {', '.join(cfg_cameras)})"
            )
        return wanted
    if len(cfg_cameras) == 1:
        return cfg_cameras[0]
    raise LookoutError(
        f"{config}: the config has {len(cfg_cameras)} cameras; choose one with --camera "
        f"({', '.join(cfg_cameras)})"
    )


def cmd_replay(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lookout.pipeline import ReplayPipeline
    from lookout.streams.file_reader import FileReader

    video: Path = args.video
    FileReader.probe(video)  # fail fast on a missing or unreadable file
    cfg = load_config(args.config)
    camera_id = _choose_camera([c.id for c in cfg.cameras], args.camera, args.config)
    pipeline = ReplayPipeline.from_config(cfg, camera_id, args.out, config_source=str(args.config))
    reader = pipeline.open_reader(video, args.start)
    total = None
    if reader.info.duration_s:
        total = int(reader.info.duration_s * min(pipeline.camera.analysis_fps, reader.info.fps)) + 1
    disable = None if args.progress is None else not args.progress
    with tqdm(
        total=total,
        unit="frame",
        desc=f"replay {camera_id}",
        disable=disable,
        file=sys.stderr,
        leave=False,
    ) as bar:
        stats = pipeline.run(reader, on_frame=lambda _f: bar.update(1))
    by_type = ", ".join(f"{k}={v}" for k, v in sorted(stats.cases_by_type.items())) or "none"
    print(
        f"video:           {video} ({reader.info.codec} {reader.info.width}x{reader.info.height}"
        f" @ {reader.info.fps:g} fps)"
    )
    print(f"camera:          {camera_id}")
    print(f"frames read:     {stats.frames_read}")
    if reader.decode_errors:
        # Damaged footage is replayed as far as it decodes; the damage is counted here.
        print(
            f"damaged:         {reader.decode_errors} decoder error(s): pictures concealed "
            "or skipped (-vv names them)"
        )
    print(
        f"frames analysed: {stats.frames_analysed} ({stats.frames_inferred} through the detector"
        f" in {stats.inference_calls} calls)"
    )
    print(f"detections:      {stats.detections}")
    print(
        f"cases:           {len(stats.cases)} new ({by_type}); "
        f"{stats.merged_events} repeat events merged"
    )
    print(
        f"speed:           {stats.speed_x_realtime:.1f}x real time, "
        f"{stats.analysed_fps:.1f} analysed frames/s ({stats.elapsed_s:.2f} s)"
    )
    print(f"output:          {args.out / 'cases.jsonl'}, {args.out / 'evidence'}/")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from lookout.daemon import Daemon
    from lookout.logs import setup_logging

    daemon = Daemon.from_config(args.config)
    fmt = args.log_format or daemon.cfg.daemon.log_format
    setup_logging(logging.INFO - 10 * min(args.verbose, 1), fmt)
    daemon.install_signal_handlers()
    return daemon.run()


def cmd_bench(args: argparse.Namespace) -> int:
    from lookout.bench_run import run

    report = run(args)
    keys = ("pipeline_images_per_s", "bare_ort_images_per_s", "ratio", "cameras_sustained")
    for key in keys:
        print(f"{key}: {report[key]}")
    print(f"reports: {args.out}/bench.json, bench.csv, bench.png")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from lookout.evaluate import below_baseline, dump, run_scenario, table

    results = [run_scenario(p) for p in args.scenarios]
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(dump(results))
    if args.baseline is None:
        return 0
    if args.update_baseline:
        base = {
            str(r["scenario"]): {
                t: {"precision": row["precision"], "recall": row["recall"]}
                for t, row in r["types"].items()  # type: ignore[attr-defined]
            }
            for r in results
        }
        args.baseline.write_text(json.dumps(base, indent=2, ensure_ascii=False) + "\n")
        print(f"baseline written: {args.baseline}")
        return 0
    if not args.baseline.is_file():
        raise SourceError(f"{args.baseline}: baseline not found")
    problems = below_baseline(results, json.loads(args.baseline.read_text()))
    for p in problems:
        print(f"REGRESSION: {p}", file=sys.stderr)
    return 1 if problems else 0


def cmd_cases_list(args: argparse.Namespace) -> int:
    from lookout.cases.sinks import SqliteOutbox

    db: Path = args.db or args.out / "cases.db"
    if not db.is_file():
        raise SourceError(f"{db}: outbox not found")
    outbox = SqliteOutbox.open(db)
    try:
        n = 0
        for case in outbox.cases(case_type=args.type, limit=args.limit):
            n += 1
            if args.json:
                print(case.to_json())
            else:
                print(
                    f"{case.confirmed_at.isoformat()}  {case.type:<20} {case.camera_id:<12} "
                    f"{case.zone_id:<14} dwell={case.dwell_s:>6.1f}s conf={case.confidence:.2f}"
                    f"  {case.id}"
                )
        if not args.json:
            print(f"{n} case(s) in {db}")
    finally:
        outbox.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    prepare_process()  # before any thread starts (lookout/base/memory.py)
    args = build_parser().parse_args(argv)
    setup_logging(logging.WARNING - 10 * min(args.verbose, 2))
    try:
        if args.command == "replay":
            return cmd_replay(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "console":
            from lookout.console.replay import run as run_console

            return run_console(args)
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "reference":
            from lookout.reference import run as run_reference

            return run_reference(args)
        if args.command == "calibrate":
            from lookout.calibrate import run as run_calibrate

            return run_calibrate(args)
        if args.command == "cases":
            if args.cases_command == "verdict":
                from lookout.cases_cli import run_verdict

                return run_verdict(args)
            if args.cases_command == "prune":
                from lookout.cases_cli import run_prune

                return run_prune(args)
            return cmd_cases_list(args)
        if args.command == "report":
            from lookout.report import run as run_report

            return run_report(args)
        if args.command == "cluster":
            from lookout.cluster_cli import run as run_cluster

            return run_cluster(args)
        if args.command == "regions":
            from lookout.regions_cli import run as run_regions

            return run_regions(args)
    except LookoutError as exc:
        print(f"lookout: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lookout: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
