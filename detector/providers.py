"""Choosing ONNX Runtime execution providers, with a fallback chain.

`plan_providers()` turns a preference list (short aliases such as `cuda` or `trt`, or
full names such as `CUDAExecutionProvider`, case-insensitive) and per-provider options
into the `providers=` argument of `ort.InferenceSession`: requested providers this
ONNX Runtime build lacks are dropped (and listed), and `CPUExecutionProvider` always
ends the chain. After the session is built, `describe_session()` reports in one log
line what ONNX Runtime actually enabled: a provider can be available yet fail to start
(e.g. CUDA without its libraries), in which case ONNX Runtime silently uses the rest.

Note that ONNX Runtime places each graph node on the first provider that supports
it, so list `tensorrt, cuda` (not `tensorrt` alone) to keep the nodes TensorRT
cannot run on the GPU.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import onnxruntime as ort

from lookout.base.errors import ModelError
from lookout.base.paths import cache_dir

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"
COREML = "CoreMLExecutionProvider"

#: Short names accepted besides the full provider names (lower case).
ALIASES: dict[str, str] = {
    "cpu": CPU,
    "cuda": CUDA,
    "tensorrt": TENSORRT,
    "trt": TENSORRT,
    "openvino": OPENVINO,
    "coreml": COREML,
}

ProviderEntry = tuple[str, dict[str, str]]


class _HasProviders(Protocol):
    def get_providers(self) -> list[str]: ...


@dataclass(frozen=True)
class ProviderPlan:
    """What to pass to `ort.InferenceSession(providers=...)`.

    Attributes:
        providers: (full name, options) in order of preference, CPU last.
        unavailable: requested providers (full names) this ONNX Runtime build lacks.
        description: one line for logs, e.g. `CUDAExecutionProvider -> CPUExecutionProvider
            (unavailable: TensorrtExecutionProvider)`.
    """

    providers: list[ProviderEntry]
    unavailable: list[str] = field(default_factory=list)
    description: str = ""

    @property
    def names(self) -> list[str]:
        """Full names of the planned providers, in order."""
        return [name for name, _ in self.providers]

    def options(self, name: str) -> dict[str, str]:
        """Options planned for provider `name` (alias or full name); {} if not planned."""
        full = resolve_name(name)
        return next((dict(opts) for n, opts in self.providers if n == full), {})


def _known_full_names() -> dict[str, str]:
    """Lower-case full name -> canonical spelling, for every provider ORT knows of."""
    names = {full.lower(): full for full in ALIASES.values()}
    names.update({full.lower(): full for full in ort.get_all_providers()})
    return names


def _known_text() -> str:
    aliases = ", ".join(ALIASES)
    return f"known: {aliases}, or a full ONNX Runtime name such as {CUDA}"


def resolve_name(name: str) -> str:
    """Full provider name for an alias or a full name (case-insensitive).

    Raises:
        ModelError: `name` is neither (one line listing the known aliases).
    """
    key = str(name).strip().lower()
    if key in ALIASES:
        return ALIASES[key]
    full = _known_full_names().get(key)
    if full is None:
        raise ModelError(f"unknown execution provider {name!r} ({_known_text()})")
    return full


def _dedupe(names: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(name, None)
    return list(seen)


def _as_option_text(value: object) -> str:
    # ONNX Runtime parses provider options from strings; booleans as "True"/"False".
    return str(value)


def _default_options(name: str, engine_cache_dir: Path | None) -> dict[str, str]:
    if name == CUDA:
        return {"device_id": "0"}
    if name == TENSORRT:
        cache = engine_cache_dir if engine_cache_dir is not None else cache_dir() / "tensorrt"
        return {
            "device_id": "0",
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(cache),
        }
    if name == OPENVINO:
        return {"device_type": "CPU"}
    return {}


def _describe(names: Sequence[str], unavailable: Sequence[str]) -> str:
    text = " -> ".join(names)
    if unavailable:
        text += f" (unavailable: {', '.join(unavailable)})"
    return text


def plan_providers(
    requested: Sequence[str],
    *,
    provider_options: Mapping[str, Mapping[str, object]] | None = None,
    engine_cache_dir: Path | None = None,
    available: Sequence[str] | None = None,
) -> ProviderPlan:
    """Resolve a preference list into a `ProviderPlan`.

    Args:
        requested: provider aliases (`cpu`, `cuda`, `tensorrt`/`trt`, `openvino`,
            `coreml`) or full names, in order of preference; duplicates are dropped.
        provider_options: options per provider (keyed by alias or full name), merged
            over the defaults: CUDA `device_id` 0; TensorRT `device_id` 0 (CUDA's when
            only CUDA's is given), `trt_engine_cache_enable` True and
            `trt_engine_cache_path` (see `engine_cache_dir`), and e.g. `trt_fp16_enable`
            when wanted; OpenVINO `device_type` CPU. Values are passed as strings.
            Options of providers that are not planned are ignored.
        engine_cache_dir: TensorRT engine cache folder (default
            `cache_dir()/tensorrt`); created when TensorRT is planned.
        available: `ort.get_available_providers()` unless given (for tests).

    Raises:
        ModelError: an unknown provider name (in `requested` or `provider_options`),
            or the engine cache folder cannot be created.
    """
    wanted = _dedupe(resolve_name(name) for name in requested)
    have = set(ort.get_available_providers() if available is None else available)
    have.add(CPU)  # every build has it
    planned = [name for name in wanted if name in have]
    unavailable = [name for name in wanted if name not in have]
    if CPU not in planned:
        planned.append(CPU)

    given: dict[str, dict[str, str]] = {}
    for key, raw in (provider_options or {}).items():
        full = resolve_name(key)
        given.setdefault(full, {}).update({k: _as_option_text(v) for k, v in raw.items()})
    if "device_id" in given.get(CUDA, {}) and "device_id" not in given.get(TENSORRT, {}):
        given.setdefault(TENSORRT, {})["device_id"] = given[CUDA]["device_id"]

    entries: list[ProviderEntry] = []
    for name in planned:
        opts = _default_options(name, engine_cache_dir)
        opts.update(given.get(name, {}))
        if name == TENSORRT and opts.get("trt_engine_cache_enable", "").lower() in ("true", "1"):
            path = Path(opts["trt_engine_cache_path"]).expanduser()
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ModelError(
                    f"{path}: cannot create the TensorRT engine cache ({exc.strerror or exc})"
                ) from None
            opts["trt_engine_cache_path"] = str(path)
        entries.append((name, opts))
    return ProviderPlan(entries, unavailable, _describe(planned, unavailable))


def tensorrt_profile(input_name: str, max_batch: int, height: int, width: int) -> dict[str, str]:
    """TensorRT optimisation-profile options for a dynamic batch of 1..`max_batch`.

    Without them TensorRT builds an engine for the first batch size it sees and
    rebuilds (seconds to minutes) whenever a batch falls outside the sizes seen so far.
    """

    def shape(n: int) -> str:
        return f"{input_name}:{n}x3x{height}x{width}"

    return {
        "trt_profile_min_shapes": shape(1),
        "trt_profile_opt_shapes": shape(max_batch),
        "trt_profile_max_shapes": shape(max_batch),
    }


def describe_session(plan: ProviderPlan, session: _HasProviders) -> str:
    """One log line: the providers ONNX Runtime actually enabled, and what it lacks.

    E.g. `detector: using CUDAExecutionProvider (fallback CPUExecutionProvider);
    unavailable: TensorrtExecutionProvider`. Planned providers that the session did
    not enable (they failed to start) are listed as `failed to start`.
    """
    enabled = list(session.get_providers())
    if not enabled:
        return "detector: no execution provider enabled"
    text = f"detector: using {enabled[0]}"
    if len(enabled) > 1:
        text += f" (fallback {', '.join(enabled[1:])})"
    if plan.unavailable:
        text += f"; unavailable: {', '.join(plan.unavailable)}"
    failed = [name for name in plan.names if name not in enabled]
    if failed:
        text += f"; failed to start: {', '.join(failed)}"
    if TENSORRT in enabled:
        cache = plan.options(TENSORRT).get("trt_engine_cache_path")
        if cache:
            text += f"; TensorRT engine cache {cache}"
    return text
