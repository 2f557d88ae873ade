"""Datasets from the frames lookout keeps (docs/LEARNING.md): `export` turns the clean
frames of cases into a YOLO-format dataset, `check` reads a labelled set back (the
export itself, CVAT "YOLO 1.1", Label Studio "YOLO") and lists its problems."""
