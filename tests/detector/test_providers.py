"""Execution provider planning (aliases, fallback chain, options) and a real detector
built with a GPU preference on this CPU-only machine."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from lookout.base.errors import ModelError
from lookout.base.paths import REPO_ROOT
from lookout.detector.manifest import load_manifest
from lookout.detector.onnx_model import OnnxDetector, _tensorrt_batch_profile, prepare_model
from lookout.detector.providers import (
    CPU,
    CUDA,
    TENSORRT,
    describe_session,
    plan_providers,
    resolve_name,
    tensorrt_profile,
)

CPU_ONLY = ["CPUExecutionProvider"]
GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


class FakeSession:
    def __init__(self, providers: list[str]) -> None:
        self._providers = providers

    def get_providers(self) -> list[str]:
        return list(self._providers)


@pytest.mark.parametrize(
    ("name", "full"),
    [
        ("cpu", CPU),
        ("CPU", CPU),
        ("cuda", CUDA),
        ("Cuda", CUDA),
        ("tensorrt", TENSORRT),
        ("TRT", TENSORRT),
        ("openvino", "OpenVINOExecutionProvider"),
        ("coreml", "CoreMLExecutionProvider"),
        ("CUDAExecutionProvider", CUDA),
        ("cudaexecutionprovider", CUDA),
        (" TensorrtExecutionProvider ", TENSORRT),
        ("DmlExecutionProvider", "DmlExecutionProvider"),  # any name ORT knows of
    ],
)
def test_aliases_and_full_names_resolve(name: str, full: str) -> None:
    assert resolve_name(name) == full


def test_unknown_name_is_a_one_line_model_error() -> None:
    with pytest.raises(ModelError) as info:
        plan_providers(["cuda", "gpu"], available=GPU_BUILD)
    message = str(info.value)
    assert "'gpu'" in message and "\n" not in message
    for alias in ("cpu", "cuda", "tensorrt", "trt", "openvino", "coreml"):
        assert alias in message
    with pytest.raises(ModelError, match="'tensor-rt'"):
        plan_providers(["cpu"], provider_options={"tensor-rt": {}}, available=CPU_ONLY)


def test_gpu_requested_on_a_cpu_build_falls_back_to_cpu() -> None:
    plan = plan_providers(["tensorrt", "cuda"], available=CPU_ONLY)
    assert plan.providers == [(CPU, {})]
    assert plan.unavailable == [TENSORRT, CUDA]
    assert "\n" not in plan.description
    assert CPU in plan.description and TENSORRT in plan.description


def test_cpu_is_always_last_and_duplicates_go() -> None:
    plan = plan_providers(["cuda", "CUDAExecutionProvider", "cpu"], available=GPU_BUILD)
    assert plan.names == [CUDA, CPU]
    assert plan.unavailable == []
    plan = plan_providers(["cuda"], available=GPU_BUILD)
    assert plan.names == [CUDA, CPU]
    assert plan.options("cuda") == {"device_id": "0"}


def test_tensorrt_options_carry_the_engine_cache(tmp_path: Path) -> None:
    cache = tmp_path / "engines" / "yolox"
    plan = plan_providers(
        ["trt", "cuda"],
        provider_options={"tensorrt": {"trt_fp16_enable": "True"}, "cuda": {"device_id": "1"}},
        engine_cache_dir=cache,
        available=GPU_BUILD,
    )
    assert plan.names == [TENSORRT, CUDA, CPU]
    trt = plan.options(TENSORRT)
    assert trt["trt_engine_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"] == str(cache)
    assert trt["trt_fp16_enable"] == "True"
    assert trt["device_id"] == "1"  # follows CUDA's device
    assert plan.options("cuda") == {"device_id": "1"}
    assert cache.is_dir()


def test_tensorrt_unavailable_creates_no_cache(tmp_path: Path) -> None:
    plan = plan_providers(["trt"], engine_cache_dir=tmp_path / "engines", available=CPU_ONLY)
    assert plan.unavailable == [TENSORRT]
    assert not (tmp_path / "engines").exists()


def test_openvino_defaults_to_cpu_device() -> None:
    plan = plan_providers(["openvino"], available=["OpenVINOExecutionProvider", CPU])
    assert plan.options("openvino") == {"device_type": "CPU"}


def test_tensorrt_profile_spans_the_batch() -> None:
    assert tensorrt_profile("images", 8, 416, 416) == {
        "trt_profile_min_shapes": "images:1x3x416x416",
        "trt_profile_opt_shapes": "images:8x3x416x416",
        "trt_profile_max_shapes": "images:8x3x416x416",
    }


def test_describe_session_says_what_ort_enabled(tmp_path: Path) -> None:
    plan = plan_providers(["trt", "cuda"], available=[CUDA, CPU])
    line = describe_session(plan, FakeSession([CUDA, CPU]))
    assert line == (
        "detector: using CUDAExecutionProvider (fallback CPUExecutionProvider); "
        "unavailable: TensorrtExecutionProvider"
    )
    # CUDA is available but failed to initialise: ORT silently runs on the CPU.
    line = describe_session(plan, FakeSession([CPU]))
    assert line.startswith("detector: using CPUExecutionProvider;")
    assert "failed to start: CUDAExecutionProvider" in line
    plan = plan_providers(["trt"], engine_cache_dir=tmp_path, available=GPU_BUILD)
    line = describe_session(plan, FakeSession([TENSORRT, CPU]))
    assert str(tmp_path) in line and "\n" not in line


def test_real_detector_prefers_cuda_and_runs_on_cpu(
    assets: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if CUDA in ort.get_available_providers():
        pytest.skip("this ONNX Runtime has CUDA; the fallback is tested on CPU-only builds")
    manifest = load_manifest(REPO_ROOT / "models" / "yolox_nano.yaml")
    with caplog.at_level(logging.INFO, logger="lookout.detector.onnx_model"):
        detector = OnnxDetector.from_manifest(manifest, providers=["cuda", "cpu"], max_batch=2)
    assert detector.providers == [CPU]
    assert detector.warmup_s > 0
    lines = [r.getMessage() for r in caplog.records if r.name == "lookout.detector.onnx_model"]
    provider_lines = [line for line in lines if line.startswith("detector: using")]
    assert provider_lines == [
        "detector: using CPUExecutionProvider; unavailable: CUDAExecutionProvider"
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if "using" in r.getMessage())
    (det,) = detector.detect([np.zeros((240, 320, 3), np.uint8)])
    assert len(det.xyxy) == 0


def test_real_detector_without_warmup(assets: Path) -> None:
    manifest = load_manifest(REPO_ROOT / "models" / "yolox_nano.yaml")
    detector = OnnxDetector.from_manifest(manifest, warmup=False)
    assert detector.warmup_s == 0.0
    assert detector.providers == [CPU]
    # Nothing ran yet; the first frames pay the first run and are still answered.
    assert detector.times.images == 0
    (det,) = detector.detect([np.zeros((240, 320, 3), np.uint8)])
    assert len(det) == 0 and detector.times.images == 1


def test_tensorrt_profile_of_the_prepared_models(assets: Path) -> None:
    yolox = load_manifest(REPO_ROOT / "models" / "yolox_nano.yaml")
    prepared = prepare_model(yolox.model_path)
    assert _tensorrt_batch_profile(prepared, yolox, 16) == tensorrt_profile("images", 16, 416, 416)
    # This export bakes batch 1 into a Reshape (fixed output batch): static, no profile.
    v8 = load_manifest(REPO_ROOT / "models" / "yolov8n_int8.yaml")
    assert _tensorrt_batch_profile(prepare_model(v8.model_path), v8, 16) == {}
