"""`lookout model compare A B [--scenarios FILE...] [--json FILE]`: two model manifests
through the same evaluation scenarios, side by side; exit 1 when B does worse than A on
any of them (lookout/evaluation/compare.py, docs/LEARNING.md "Judging a model").

`lookout model install B --config FILE [--scenarios FILE...] [--force]`: compare the
config's model with B, and only when B does not lose (or with `--force`) set the
config's `model.manifest` to B through the round-trip writer (lookout/config/writer.py:
comments and order kept, validated first, the old file kept as `.bak`), after checking
that B has every class and role the config's zones name. Exit 1 when B loses."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lookout.base.errors import SourceError
from lookout.base.paths import REPO_ROOT
from lookout.cli.parsing import subcommands


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = subcommands(parser, "model_command")
    p = group.add_parser("compare", help="Compare two model manifests on the scenarios.")
    p.add_argument("a", type=Path, help="Manifest of the model in use (models/*.yaml).")
    p.add_argument("b", type=Path, help="Manifest of the candidate model.")
    p.add_argument(
        "--scenarios",
        nargs="+",
        type=Path,
        help="Scenario files (default: every scenario in scenarios/, the far views and "
        "the pixel scenarios included).",
    )
    p.add_argument("--json", type=Path, help="Write the comparison as JSON here.")
    i = group.add_parser("install", help="Compare, then make B the config's model.")
    i.add_argument("b", type=Path, help="Manifest of the model to install.")
    i.add_argument("--config", type=Path, required=True, help="Configuration YAML to edit.")
    i.add_argument("--scenarios", nargs="+", type=Path, help="Scenario files (as compare).")
    i.add_argument("--force", action="store_true", help="Install even when B loses.")


def run(args: argparse.Namespace) -> int:
    if args.model_command == "install":
        return run_install(args)
    return run_compare(args)


def run_compare(args: argparse.Namespace) -> int:
    from lookout.evaluation.compare import compare

    scenarios = args.scenarios or sorted((REPO_ROOT / "scenarios").glob("*.yaml"))
    result = compare(args.a, args.b, scenarios)
    print(result.table())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.as_json(), indent=2, ensure_ascii=False) + "\n")
    for loss in result.losses:
        print(f"B LOSES: {loss}")
    return 1 if result.losses else 0


def run_install(args: argparse.Namespace) -> int:
    """Compare, check B against the config's zones, then write `model.manifest`."""
    import os

    from lookout.config.app import load_config
    from lookout.config.writer import ConfigDocument, edit_config
    from lookout.evaluation.compare import compare
    from lookout.runtime.services import build_detector

    cfg = load_config(args.config)
    current = cfg.path(cfg.model.manifest)
    b = args.b.resolve()
    if not b.is_file():
        raise SourceError(f"{args.b}: manifest not found")
    # B must serve the zones as they are (every class and role they name) before anything.
    model = cfg.model.model_copy(update={"manifest": str(b)})
    build_detector(cfg.model_copy(update={"model": model}), str(args.config))
    scenarios = args.scenarios or sorted((REPO_ROOT / "scenarios").glob("*.yaml"))
    result = compare(current, b, scenarios)
    print(result.table())
    for loss in result.losses:
        print(f"B LOSES: {loss}")
    if result.losses and not args.force:
        print(f"not installed: {args.config} keeps {cfg.model.manifest}")
        return 1
    folder = args.config.resolve().parent
    value = os.path.relpath(b, folder) if b.is_relative_to(folder.parent) else str(b)

    def set_manifest(doc: ConfigDocument) -> None:
        doc.set(["model", "manifest"], value)

    written = edit_config(args.config, set_manifest)
    if not written.changed:
        print(f"{args.config}: model.manifest is {value} already")
        return 0
    print(
        f"installed: {written.path} model.manifest = {value} (was {cfg.model.manifest}; "
        f"previous file {written.backup}); the daemon takes it at its next start"
    )
    return 0
