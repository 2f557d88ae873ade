"""What the detector's own backbone sees in a box: an embedding for the second look
(docs/LEARNING.md, "The second look").

No second model and no download: the detector's ONNX file is loaded once more with
`onnx`, cut after its backbone (the tensor the feature pyramid first upsamples, or the
tensor the manifest names in `embedding_output`) and run in a small ONNX Runtime
session of its own. It runs once per case, never per frame, so the detector's hot
path and its benchmark are unchanged.

Scale is the same for every candidate: a square window around the box, `CONTEXT`
times its longer side (at least `MIN_SIDE` pixels), is letterboxed to the model's
input as the detector does, so a far-away stall 30 px wide and a near one 300 px wide
both cover about a third of the feature map. The box's cells of the backbone map are
pooled twice, mean and max, into one vector of 2 × channels values.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

import numpy as np
import onnx
import onnx.helper
import onnxruntime as ort

from lookout.base.errors import ModelError
from lookout.detector.manifest import ModelManifest
from lookout.detector.preprocess import letterbox_into

log = logging.getLogger(__name__)

#: The window around a box is this many times the box's longer side.
CONTEXT = 3.0
#: ... and at least this many pixels wide (a tiny box keeps some surroundings).
MIN_SIDE = 64


def backbone_output(model: onnx.ModelProto) -> str:
    """The tensor where the backbone ends: the input of the graph's first Resize or
    Upsample node (YOLOX's and Ultralytics' feature pyramids start by upsampling the
    deepest backbone map). ModelError when the graph has none."""
    for node in model.graph.node:  # ONNX graphs are stored in topological order
        if node.op_type in ("Resize", "Upsample") and node.input:
            return str(node.input[0])
    raise ModelError(
        "no Resize/Upsample node found to end the backbone at; name the tensor in the "
        "manifest's embedding_output"
    )


def embedding_output(manifest: ModelManifest) -> str:
    """The tensor the manifest's model is embedded at: `embedding_output`, or where its
    backbone ends (reads the ONNX file)."""
    if manifest.embedding_output:
        return manifest.embedding_output
    path = manifest.model_path
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelError(f"{path}: not an ONNX model ({str(exc).splitlines()[0]})") from None
    return backbone_output(model)


@dataclass(frozen=True, slots=True)
class Window:
    """The square crop of a frame an embedding was taken from, in frame pixels."""

    x0: int
    y0: int
    x1: int
    y1: int


def context_window(
    box: tuple[float, float, float, float] | list[float], width: int, height: int
) -> Window:
    """The square around `box` (CONTEXT × its longer side, at least MIN_SIDE),
    shifted to lie inside the frame and cut where the frame is smaller."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(CONTEXT * max(x2 - x1, y2 - y1), MIN_SIDE)
    side = min(side, float(max(width, height)))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = min(max(cx - side / 2, 0.0), max(width - side, 0.0))
    top = min(max(cy - side / 2, 0.0), max(height - side, 0.0))
    return Window(
        int(left),
        int(top),
        min(width, math.ceil(left + side)),
        min(height, math.ceil(top + side)),
    )


class BackboneEmbedder:
    """Embeddings of boxes from the detector's backbone (thread-safe: one lock)."""

    def __init__(self, session: ort.InferenceSession, manifest: ModelManifest, output: str):
        self._session = session
        self._manifest = manifest
        self.output = output
        self._input = session.get_inputs()[0].name
        h, w = manifest.input_height, manifest.input_width
        self._buffer = np.zeros((1, 3, h, w), np.float32)
        self._lock = threading.Lock()
        self.dim = 0  # known after the first run

    @classmethod
    def from_manifest(cls, manifest: ModelManifest, *, threads: int = 1) -> BackboneEmbedder:
        """Cut the manifest's model after its backbone and open a CPU session for it."""
        path = manifest.model_path
        try:
            model = onnx.load(str(path))
        except Exception as exc:
            raise ModelError(f"{path}: not an ONNX model ({str(exc).splitlines()[0]})") from None
        output = manifest.embedding_output or backbone_output(model)
        names = {o for n in model.graph.node for o in n.output}
        if output not in names:
            raise ModelError(f"{path}: embedding_output {output!r} is not a tensor of the graph")
        cut = cut_graph(model, output)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(
                cut.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelError(
                f"{path}: ONNX Runtime cannot load the backbone ({str(exc).splitlines()[0]})"
            ) from None
        log.info("second look: %s cut at %s", manifest.name, output)
        return cls(session, manifest, output)

    def embed(
        self, image: np.ndarray, box: tuple[float, float, float, float] | list[float]
    ) -> np.ndarray:
        """The embedding of `box` (frame pixels) in the BGR `image`: float32, mean then
        max of the backbone's channels over the box's cells."""
        height, width = image.shape[:2]
        win = context_window(box, width, height)
        crop = np.ascontiguousarray(image[win.y0 : win.y1, win.x0 : win.x1])
        m = self._manifest
        with self._lock:
            geo = letterbox_into(
                crop,
                self._buffer[0],
                placement=m.letterbox,
                color_order=m.color_order,
                scale=m.scale,
                pad_value=m.pad_value,
            )
            (features,) = self._session.run([self.output], {self._input: self._buffer})
        fmap = np.asarray(features, dtype=np.float32)[0]  # (C, h, w)
        c, fh, fw = fmap.shape
        sx, sy = m.input_width / fw, m.input_height / fh
        x1, y1, x2, y2 = (float(v) for v in box)
        u1 = (x1 - win.x0) * geo.scale_x + geo.pad_x
        u2 = (x2 - win.x0) * geo.scale_x + geo.pad_x
        v1 = (y1 - win.y0) * geo.scale_y + geo.pad_y
        v2 = (y2 - win.y0) * geo.scale_y + geo.pad_y
        i1, i2 = _cells(u1, u2, sx, fw)
        j1, j2 = _cells(v1, v2, sy, fh)
        cells = fmap[:, j1:j2, i1:i2].reshape(c, -1)
        vector = np.concatenate([cells.mean(axis=1), cells.max(axis=1)]).astype(np.float32)
        self.dim = int(vector.shape[0])
        return vector


def _cells(a: float, b: float, stride: float, size: int) -> tuple[int, int]:
    """The feature cells [first, last) a pixel span covers, at least one."""
    first = min(max(math.floor(a / stride), 0), size - 1)
    last = max(min(math.ceil(b / stride), size), first + 1)
    return first, last


def cut_graph(model: onnx.ModelProto, output: str) -> onnx.ModelProto:
    """`model` with `output` as its only output and only the nodes it depends on."""
    producer = {o: node for node in model.graph.node for o in node.output}
    needed: set[str] = set()
    keep: set[int] = set()
    stack = [output]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        node = producer.get(name)
        if node is not None and id(node) not in keep:
            keep.add(id(node))
            stack.extend(i for i in node.input if i)
    cut = onnx.ModelProto()
    cut.CopyFrom(model)
    graph = cut.graph
    nodes = [n for n in model.graph.node if id(n) in keep]
    del graph.node[:]
    graph.node.extend(nodes)
    inits = [i for i in model.graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    del graph.output[:]
    graph.output.append(onnx.helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None))
    del graph.value_info[:]
    return cut
