"""ONNX Runtime detector: model preparation (symbolic batch) and batched inference.

`prepare_model()` rewrites a model whose batch dimension is fixed so that it is
symbolic (`batch`), caching the result under `cache_dir()/models/<sha256>.onnx`.
`OnnxDetector` letterboxes any number of BGR frames into a reused float32 NCHW
buffer, runs ONNX Runtime once per chunk of at most `max_batch` images and decodes
the output into per-image `Detections` in original pixel coordinates. Execution
providers are chosen with a fallback chain by `detector.providers`.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from lookout.base.errors import ModelError
from lookout.base.paths import cache_dir
from lookout.detector.detections import Detections
from lookout.detector.manifest import ModelManifest
from lookout.detector.postprocess import postprocess, yolox_grid
from lookout.detector.preprocess import Image, letterbox_batch
from lookout.detector.providers import TENSORRT, describe_session, plan_providers, tensorrt_profile

log = logging.getLogger(__name__)

BATCH_DIM = "batch"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def _io_values(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs (without initializers listed as inputs) and outputs."""
    initializers = {init.name for init in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in initializers]
    return [*inputs, *model.graph.output]


def prepare_model(path: Path, cache: Path | None = None, *, dynamic_hw: bool = False) -> Path:
    """Return a path to `path`'s model with a symbolic batch dimension.

    Only dimension 0 of the graph inputs and outputs changes (to `batch`); stale
    intermediate shape annotations (`value_info`) are dropped so ONNX Runtime infers
    them again. Nothing else in the graph is touched, so a graph that bakes batch 1
    into a Reshape still only runs at batch 1 (`OnnxDetector` detects that).

    Args:
        path: the original .onnx file.
        dynamic_hw: also make the input height and width (and the anchor count of a
            3-D output) symbolic, so the model runs at other input sizes (YOLOX does).
        cache: cache root (default `cache_dir()`); the result is written to
            `<cache>/models/<sha256 of the original>.onnx` once, atomically.

    Returns:
        `path` itself when its batch dimension is already symbolic, else the cached
        rewritten model.

    Raises:
        ModelError: `path` is missing, unreadable or not an ONNX model; the cache
            cannot be written.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        raise ModelError(f"{path}: not an ONNX model (file not found)") from None
    except OSError as exc:
        raise ModelError(f"{path}: not an ONNX model ({exc.strerror or exc})") from None
    suffix = "-hw" if dynamic_hw else ""
    target = (cache if cache is not None else cache_dir()) / "models" / f"{digest}{suffix}.onnx"
    if target.is_file():
        return target

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, bad external data, ...
        raise ModelError(f"{path}: not an ONNX model ({_first_line(exc)})") from None
    if model.ir_version <= 0 or not model.graph.node or not model.graph.input:
        raise ModelError(f"{path}: not an ONNX model (no graph found)")

    changed = False
    for value in _io_values(model):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH_DIM  # clears dim_value (oneof)
            changed = True
        if dynamic_hw:
            symbolic = {4: {2: "height", 3: "width"}, 3: {1: "anchors"}}.get(len(dims), {})
            for axis, name in symbolic.items():
                if dims[axis].HasField("dim_value"):
                    dims[axis].dim_param = name
                    changed = True
    if not changed:
        return path
    del model.graph.value_info[:]

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{digest}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        onnx.save_model(model, tmp_name)
        os.replace(tmp_name, target)
    except (OSError, ValueError) as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise ModelError(f"{target}: cannot write prepared model ({_first_line(exc)})") from None
    log.info("prepared %s with a symbolic batch dimension: %s", path, target)
    return target


def class_names_from_metadata(metadata: dict[str, str]) -> list[str] | None:
    """Class names from ONNX metadata key `names` (Ultralytics writes a Python dict
    repr `{0: 'person', ...}`; a list or JSON list also works). None if absent or
    unreadable."""
    raw = metadata.get("names")
    if not raw:
        return None
    try:
        value: Any = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, dict):
        try:
            keys = sorted(int(k) for k in value)
        except (TypeError, ValueError):
            return None
        if keys != list(range(len(keys))):
            return None
        return [str(value[k] if k in value else value[str(k)]) for k in keys]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return None


def _is_fixed(dim: object) -> bool:
    return isinstance(dim, int)


def _tensorrt_batch_profile(path: Path, manifest: ModelManifest, max_batch: int) -> dict[str, str]:
    """TensorRT profile options for batches 1..max_batch, or {} when the graph fixes a
    batch size in its inputs/outputs, also as inferred (a Reshape baking in batch 1
    fixes the output): static shapes need no profile."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # ONNX Runtime reports an unreadable model more usefully
        return {}
    with contextlib.suppress(Exception):  # custom ops etc.: go by the declared shapes
        model = onnx.shape_inference.infer_shapes(model)
    values = _io_values(model)
    if not values or any(
        not v.type.tensor_type.shape.dim or v.type.tensor_type.shape.dim[0].HasField("dim_value")
        for v in values
    ):
        return {}
    return tensorrt_profile(values[0].name, max_batch, manifest.input_height, manifest.input_width)


@dataclass(slots=True)
class DetectorTimes:
    """Seconds spent per stage inside `detect` (summed), and images processed."""

    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0
    images: int = 0


class OnnxDetector:
    """A YOLOX- or Ultralytics-layout detector running on an ONNX Runtime session.

    `detect()` is serialised by a lock (it reuses one input buffer); use one
    detector per worker thread for parallel inference.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        manifest: ModelManifest,
        class_names: Sequence[str],
        *,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        max_batch: int = 8,
    ) -> None:
        """Wrap a built session (no side effects; see `from_manifest`).

        Raises:
            ModelError: the model's input/output shapes do not fit the manifest.
            ValueError: bad thresholds or `max_batch`.
        """
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if not 0.0 <= conf_threshold <= 1.0 or not 0.0 <= iou_threshold <= 1.0:
            raise ValueError("conf_threshold and iou_threshold must be within [0, 1]")
        self._session = session
        self._manifest = manifest
        self._class_names = list(class_names)
        self._index = {name: i for i, name in reversed(list(enumerate(self._class_names)))}
        self.conf_threshold = float(conf_threshold)
        self.iou_threshold = float(iou_threshold)
        self._where = str(manifest.model_path)
        self._input_name, self._output_name = self._validate()
        self._fixed_batch, self._max_batch = self._batch_limits(max_batch)
        self._buffer: np.ndarray | None = None
        self._lock = threading.Lock()
        self.times = DetectorTimes()
        self.providers: list[str] = list(session.get_providers())
        """Execution providers ONNX Runtime actually enabled, in priority order."""
        self.warmup_s = 0.0
        """Seconds the warm-up run took (0.0 until `warm_up()` ran)."""

    @classmethod
    def from_manifest(
        cls,
        manifest: ModelManifest,
        *,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        intra_op_threads: int = 2,
        inter_op_threads: int = 1,
        allow_spinning: bool = False,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        max_batch: int = 8,
        provider_options: Mapping[str, Mapping[str, str]] | None = None,
        engine_cache_dir: Path | None = None,
        warmup: bool = True,
        dynamic_hw: bool = False,
    ) -> OnnxDetector:
        """Prepare the model (symbolic batch, cached), build the session, resolve the
        class names (manifest, else ONNX metadata `names`) and warm it up.

        Args:
            providers: execution providers in order of preference, aliases (`cpu`,
                `cuda`, `tensorrt`/`trt`, `openvino`, `coreml`) or full names; those this
                ONNX Runtime build lacks are skipped and CPU is always the last fallback
                (see `detector.providers.plan_providers`). What was actually enabled is
                logged in one INFO line and kept in `self.providers`.
            provider_options: options per provider (keyed by alias or full name),
                merged over the defaults of `plan_providers`.
            engine_cache_dir: TensorRT engine cache folder (default
                `cache_dir()/tensorrt`).
            warmup: run once on a zero batch (`warm_up()`) so the first real frames do
                not pay graph/allocation (or TensorRT engine build) cost.

        Raises:
            ModelError: the model is missing, not ONNX, rejected by ONNX Runtime, has
                no class names, does not fit the manifest or fails its warm-up run; an
                unknown provider name.
        """
        prepared = prepare_model(manifest.model_path, dynamic_hw=dynamic_hw)
        plan = plan_providers(
            providers, provider_options=provider_options, engine_cache_dir=engine_cache_dir
        )
        provider_list = plan.providers
        if TENSORRT in plan.names:
            trt_opts = plan.options(TENSORRT)
            if not any(key.startswith("trt_profile_") for key in trt_opts):
                profile = _tensorrt_batch_profile(prepared, manifest, max_batch)
                provider_list = [
                    (name, {**opts, **profile} if name == TENSORRT else opts)
                    for name, opts in plan.providers
                ]
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if not allow_spinning:
            # Spinning workers burn the cores that decoding and tracking need between
            # inference calls; measured faster end to end on a 2-core box without it.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(str(prepared), options, providers=provider_list)
        except Exception as exc:
            raise ModelError(
                f"{manifest.model_path}: ONNX Runtime cannot load the model ({_first_line(exc)})"
            ) from None
        names = list(manifest.class_names)
        if not names:
            metadata = dict(session.get_modelmeta().custom_metadata_map)
            found = class_names_from_metadata(metadata)
            if not found:
                raise ModelError(
                    f"{manifest.model_path}: the manifest has no class_names and the model "
                    "metadata has no readable 'names'"
                )
            names = found
            manifest = manifest.with_class_names(names)  # roles checked against them
        detector = cls(
            session,
            manifest,
            names,
            conf_threshold=conf_threshold,
            iou_threshold=iou_threshold,
            max_batch=max_batch,
        )
        log.info("%s", describe_session(plan, session))
        if warmup:
            detector.warm_up()
            log.debug(
                "%s: warm-up %.3f s at batch %d",
                manifest.name,
                detector.warmup_s,
                detector.max_batch,
            )
        return detector

    # -- validation ---------------------------------------------------------------

    def _fail(self, problem: str) -> ModelError:
        return ModelError(f"{self._where}: {problem}")

    def _validate(self) -> tuple[str, str]:
        """Check the session's input/output against the manifest; return their names."""
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1:
            raise self._fail(f"expected 1 model input, found {len(inputs)}")
        if not outputs:
            raise self._fail("the model has no outputs")
        inp, out = inputs[0], outputs[0]
        shape = list(inp.shape)
        if inp.type != "tensor(float)":
            raise self._fail(f"model input must be float32, found {inp.type}")
        if len(shape) != 4 or (_is_fixed(shape[1]) and shape[1] != 3):
            raise self._fail(f"model input must be (N, 3, H, W), found {shape}")
        m = self._manifest
        for axis, label, expected in ((2, "height", m.input_height), (3, "width", m.input_width)):
            if _is_fixed(shape[axis]) and shape[axis] != expected:
                raise self._fail(
                    f"model input {label} is {shape[axis]} but the manifest says "
                    f"input_{label}: {expected}"
                )
        oshape = list(out.shape)
        if len(oshape) != 3:
            raise self._fail(f"{m.layout} output must be 3-D, found {oshape}")
        if m.layout == "yolox":
            n_classes, anchors = oshape[2], oshape[1]
            n_classes = n_classes - 5 if _is_fixed(n_classes) else None
            expected_anchors = yolox_grid(m.input_height, m.input_width)[0].shape[0]
            if _is_fixed(anchors) and anchors != expected_anchors:
                raise self._fail(
                    f"yolox output has {anchors} anchors, expected {expected_anchors} for "
                    f"{m.input_width}x{m.input_height}"
                )
        else:
            n_classes = oshape[1] - 4 if _is_fixed(oshape[1]) else None
        if n_classes is not None and n_classes != len(self._class_names):
            raise self._fail(
                f"the model outputs {n_classes} classes but {len(self._class_names)} class "
                "names are given"
            )
        return inp.name, out.name

    def _batch_limits(self, max_batch: int) -> tuple[int | None, int]:
        """(fixed batch the graph requires or None, images per ORT run)."""
        in_batch = self._session.get_inputs()[0].shape[0]
        out_batch = self._session.get_outputs()[0].shape[0]
        if _is_fixed(in_batch):
            return int(in_batch), int(in_batch)
        if _is_fixed(out_batch):
            # Symbolic input but a fixed output: the graph bakes the batch size in
            # (e.g. a Reshape to [1, ...]); only that many images per run work.
            log.warning(
                "%s: the graph fixes its output batch to %s; running %s image(s) per call",
                self._where,
                out_batch,
                out_batch,
            )
            return None, int(out_batch)
        return None, max_batch

    # -- public API -----------------------------------------------------------------

    @property
    def manifest(self) -> ModelManifest:
        return self._manifest

    @property
    def roles(self) -> dict[str, list[str]]:
        """The manifest's roles (vehicle, person, stall_object, structure) → classes."""
        return {str(role): list(names) for role, names in self._manifest.roles.items()}

    @property
    def class_names(self) -> list[str]:
        """Class names in model output order (a copy)."""
        return list(self._class_names)

    @property
    def crop_size(self) -> int:
        """The side of the square a region crop is planned at: the model input's shorter
        side (lookout/detector/regions.py)."""
        return min(self._manifest.input_size)

    @property
    def cpu_threads(self) -> int:
        """Cores ONNX Runtime's own thread pool keeps busy during a run: its intra-op
        threads when the CPU runs the model (0: ORT's default, one per core), 0 when a
        GPU provider does. The replay sizes its decoder by it (docs/ARCHITECTURE.md)."""
        if self._session.get_providers()[0] != "CPUExecutionProvider":
            return 0
        threads = int(self._session.get_session_options().intra_op_num_threads)
        return threads or (os.cpu_count() or 1)

    @property
    def max_batch(self) -> int:
        """Images per ONNX Runtime run (may be lower than requested, see above)."""
        return self._max_batch

    def class_id(self, name: str) -> int:
        """Index of class `name`. Raises KeyError for an unknown name."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a class of model {self._manifest.name}") from None

    def _batch_buffer(self, count: int) -> np.ndarray:
        """A (count, 3, H, W) float32 view of the reused input buffer."""
        m = self._manifest
        if self._buffer is None or self._buffer.shape[0] < count:
            self._buffer = np.empty((count, 3, m.input_height, m.input_width), np.float32)
        return self._buffer[:count]

    def warm_up(self) -> float:
        """Run ONNX Runtime once on a zero batch of `max_batch` images (the graph's
        fixed batch when it has one); record and return the seconds it took.

        Raises:
            ModelError: the run failed.
        """
        with self._lock:
            buffer = self._batch_buffer(self._max_batch)
            buffer.fill(0.0)
            start = time.perf_counter()
            self.infer_raw(buffer)
            self.warmup_s = time.perf_counter() - start
        return self.warmup_s

    def infer_raw(self, batch: np.ndarray) -> np.ndarray:
        """Run ONNX Runtime on a prepared batch (for benchmarks of bare inference).

        Args:
            batch: (N, 3, H, W) float32, C-contiguous.

        Returns:
            The first model output, e.g. (N, A, 85) float32 for YOLOX-COCO.
        """
        if batch.dtype != np.float32 or batch.ndim != 4:
            raise ValueError(f"batch must be float32 (N, 3, H, W), got {batch.dtype} {batch.shape}")
        try:
            out = self._session.run([self._output_name], {self._input_name: batch})[0]
        except Exception as exc:
            raise self._fail(f"inference failed ({_first_line(exc)})") from None
        return np.asarray(out)

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """Detect objects in pictures or BGR frames of any sizes.

        Args:
            images: Pictures (lookout/streams/picture.py) or BGR images, each
                (H_i, W_i, 3) uint8.

        Returns:
            One `Detections` per image, in order; boxes xyxy float32 in that image's
            pixels, clipped to it, sorted by decreasing confidence.
        """
        m = self._manifest
        results: list[Detections] = []
        with self._lock:
            for start in range(0, len(images), self._max_batch):
                chunk = images[start : start + self._max_batch]
                run_n = self._fixed_batch or len(chunk)
                buffer = self._batch_buffer(run_n)
                t0 = time.perf_counter()
                geometries = letterbox_batch(
                    chunk,
                    buffer,
                    placement=m.letterbox,
                    color_order=m.color_order,
                    scale=m.scale,
                    pad_value=m.pad_value,
                )
                t1 = time.perf_counter()
                raw = self.infer_raw(buffer)
                t2 = time.perf_counter()
                if raw.shape[0] != run_n:
                    raise self._fail(f"output batch {raw.shape[0]} for {run_n} input images")
                results.extend(
                    postprocess(
                        raw[: len(chunk)],
                        layout=m.layout,
                        geometries=geometries,
                        input_height=m.input_height,
                        input_width=m.input_width,
                        conf_threshold=self.conf_threshold,
                        iou_threshold=self.iou_threshold,
                    )
                )
                self.times.preprocess += t1 - t0
                self.times.inference += t2 - t1
                self.times.postprocess += time.perf_counter() - t2
                self.times.images += len(chunk)
        return results
