"""`lookout cluster status --config FILE [--json]`: the fleet as Redis holds it — live
and gone boxes with their heartbeats, weights and load, which box holds which camera
under which token, how old each lease is, and the cameras held by nobody."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import redis

from lookout.base.errors import ConfigError, SourceError
from lookout.cases.redis_conn import describe_error
from lookout.cli.parsing import subcommands
from lookout.fleet.leases import LeaseStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = subcommands(parser, "cluster_command").add_parser(
        "status", help="Boxes, heartbeats, leases, load."
    )
    p.add_argument("--config", required=True, type=Path, help="Configuration YAML (cluster:).")
    p.add_argument("--json", action="store_true", help="One JSON object.")


def fleet_status(store: LeaseStore, cameras: list[str]) -> dict[str, Any]:
    """Boxes and leases now; times in seconds, from Redis's clock."""
    now = store.now_ms()
    live, gone = store.boxes()
    leases = store.leases(cameras)
    boxes = [
        {
            "id": b.id,
            "live": True,
            "weight": b.weight,
            "cameras": len(b.held),
            "heartbeat_age_s": round((now - b.beat_ms) / 1000, 3),
            "alive_for_s": round((now - b.since_ms) / 1000, 3),
        }
        for b in live.values()
    ]
    boxes += [{"id": g, "live": False} for g in gone]
    rows = []
    for lease in leases:
        holder = live.get(lease.box_id or "")
        granted = holder.held.get(lease.camera_id) if holder is not None else None
        rows.append(
            {
                "camera": lease.camera_id,
                "box": lease.box_id,
                "token": lease.token,
                "lease_age_s": None if granted is None else round((now - granted) / 1000, 3),
                "ttl_left_s": None if lease.ttl_left_ms is None else lease.ttl_left_ms / 1000,
            }
        )
    return {
        "boxes": boxes,
        "cameras": rows,
        "unheld": [r["camera"] for r in rows if r["box"] is None],
    }


def render(status: dict[str, Any]) -> str:
    lines = ["box          live  weight  cameras  heartbeat  alive for"]
    for b in status["boxes"]:
        if b["live"]:
            lines.append(
                f"{b['id']:<12} yes   {b['weight']:>6g}  {b['cameras']:>7}  "
                f"{b['heartbeat_age_s']:>7.1f} s  {b['alive_for_s']:>7.0f} s"
            )
        else:
            lines.append(f"{b['id']:<12} gone")
    lines.append("")
    lines.append("camera       box          token                lease age  ttl left")
    for c in status["cameras"]:
        age = "" if c["lease_age_s"] is None else f"{c['lease_age_s']:.0f} s"
        left = "" if c["ttl_left_s"] is None else f"{c['ttl_left_s']:.1f} s"
        lines.append(
            f"{c['camera']:<12} {c['box'] or '-':<12} {c['token'] or '':<20} {age:>9}  {left:>8}"
        )
    unheld = status["unheld"]
    lines.append(
        f"\n{len(unheld)} camera(s) held by nobody{': ' if unheld else ''}" + ", ".join(unheld)
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """`cluster status` (its only subcommand)."""
    from lookout.config.app import load_config

    cfg = load_config(args.config)
    cc = cfg.cluster
    if cc is None:
        raise ConfigError(f"{args.config}: no cluster: section")
    client, target = cc.connect()
    try:
        status = fleet_status(
            LeaseStore(client, cc.prefix, cc.lease_ttl_s), [c.id for c in cfg.cameras]
        )
    except (redis.RedisError, OSError) as exc:
        raise SourceError(describe_error(target, exc)) from None
    finally:
        client.close()
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0
