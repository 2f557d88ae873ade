"""The second look's embeddings: the detector's own backbone, cut out of the same ONNX
file, pooled over a box (detector/embedding.py), on the real models and real frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from lookout.base.errors import ModelError
from lookout.detector.embedding import (
    MIN_SIDE,
    BackboneEmbedder,
    backbone_output,
    context_window,
)
from lookout.detector.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]
#: vtest frame 100: the sign post on the lawn the model takes for a person, and two
#: real people on the road.
POST = (30.6, 106.8, 48.2, 141.6)
MAN = (374.0, 176.0, 412.0, 258.0)
WOMAN = (348.0, 198.0, 383.0, 273.0)


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("yolox_nano.yaml", "/backbone/lateral_conv0/act/Mul_output_0"),
        ("yolov8n_int8.yaml", "/model.9/cv2/act/Mul_output_0"),
    ],
)
def test_the_backbone_ends_where_the_pyramid_first_upsamples(
    assets: Path, manifest: str, expected: str
) -> None:
    m = load_manifest(ROOT / "models" / manifest)
    assert backbone_output(onnx.load(str(m.model_path))) == expected


def test_embeddings_of_the_post_and_of_people_differ(vtest_100: np.ndarray) -> None:
    emb = BackboneEmbedder.from_manifest(load_manifest(ROOT / "models" / "yolox_nano.yaml"))
    post, man, woman = (emb.embed(vtest_100, b) for b in (POST, MAN, WOMAN))
    assert post.dtype == np.float32 and post.shape == (256,)  # mean and max of 128 channels
    assert emb.dim == 256
    people = np.corrcoef(man, woman)[0, 1]
    post_man = np.corrcoef(post, man)[0, 1]
    assert people > 0.8 and post_man < people - 0.2, (people, post_man)
    # The same box gives the same vector (no state between calls).
    np.testing.assert_array_equal(emb.embed(vtest_100, POST), post)


def test_a_named_tensor_that_is_not_in_the_graph_is_one_line(tmp_path: Path) -> None:
    m = load_manifest(ROOT / "models" / "yolox_nano.yaml")
    bad = m.model_copy(update={"embedding_output": "no/such/tensor"})
    with pytest.raises(ModelError, match="embedding_output 'no/such/tensor' is not a tensor"):
        BackboneEmbedder.from_manifest(bad)


def test_the_window_keeps_scale_and_stays_inside_the_frame() -> None:
    w = context_window((100, 100, 120, 140), 768, 576)  # 40 px tall: 120 px window
    assert (w.x1 - w.x0, w.y1 - w.y0) == (120, 120)
    assert w.x0 <= 100 and w.x1 >= 120 and w.y0 <= 100 and w.y1 >= 140
    tiny = context_window((5, 5, 8, 8), 768, 576)  # at the corner, at least MIN_SIDE
    assert (tiny.x0, tiny.y0) == (0, 0) and tiny.x1 - tiny.x0 == MIN_SIDE
    huge = context_window((0, 0, 700, 500), 768, 576)  # cut to the frame
    assert (huge.x0, huge.y0, huge.x1, huge.y1) == (0, 0, 768, 576)
