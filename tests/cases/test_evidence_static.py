"""The evidence of a case about what stays (docs/DETECTION.md, "What stays"): the
static objects of the stall or the goods boxed and labelled, and only those."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookout.cases.evidence import BOX_COLOUR, STATIC_COLOUR, EvidenceWriter, static_boxes
from lookout.zones.events import Scene, ViolationEvent
from tests.support.helpers import dets, frame, parked_event

STATIC = 4  # the synthetic class after four model classes


def vendor_event() -> ViolationEvent:
    f = frame(30.0, size=(240, 320))
    scene_dets = dets(
        (100, 60, 130, 140, 0.9, 0, 7),  # the vendor
        (135, 110, 175, 140, 0.7, STATIC, 8),  # the goods at the stall
        (250, 150, 290, 180, 0.7, STATIC, 9),  # something else left in the view
    )
    scene = Scene(
        detections=scene_dets,
        person=scene_dets.class_id == 0,
        vehicle=np.zeros(3, bool),
        size=(320, 240),
        static=scene_dets.class_id == STATIC,
    )
    return parked_event(
        f,
        type="street_vendor",
        class_name="person",
        track=7,
        bbox=(100.0, 60.0, 175.0, 140.0),
        subject_ids=(8,),
        support=("static_object",),
        polygon=((0.0, 0.0), (319.0, 0.0), (319.0, 239.0), (0.0, 239.0)),
        scene=scene,
    )


def test_the_stalls_static_objects_are_boxed_in_their_own_colour(tmp_path: Path) -> None:
    event = vendor_event()
    assert static_boxes(event) == [(135.0, 110.0, 175.0, 140.0)]
    img = EvidenceWriter(tmp_path).annotate(event)
    assert tuple(img[125, 135]) == STATIC_COLOUR  # the goods' left edge
    assert tuple(img[165, 250]) != STATIC_COLOUR  # the other static object: not this case's
    assert tuple(img[100, 100]) == BOX_COLOUR  # the case's own box as before


def test_an_event_without_static_objects_draws_only_its_box(tmp_path: Path) -> None:
    f = frame(30.0, size=(240, 320))
    event = parked_event(f)
    assert static_boxes(event) == []
    img = EvidenceWriter(tmp_path).annotate(event)
    assert not (img == np.array(STATIC_COLOUR, np.uint8)).all(axis=2).any()
