"""Registration of a PTZ camera's current view onto its stored reference view.

A tower camera that returns to a preset never lands on exactly the same pixels: the
view is typically off by a few pixels and a fraction of a degree, and the light is
different every time. `align` estimates the transform that maps the current image
onto the reference image and warps it there, so that later stages can compare the
two pixel by pixel.

Primary method: ORB features on contrast-normalised grey (CLAHE, so that features
survive lighting changes), brute-force Hamming matching with Lowe's ratio test and a
RANSAC homography (the exact model for a camera rotating about its centre), replaced
by a RANSAC similarity when that explains the inliers as well. When
features fail (fog, night, a featureless view) the fallback is ECC (Euclidean motion)
on a downscaled, blurred grey image. Every estimate is checked for plausibility: a
PTZ return never scales the view far from 1, rotates it by more than a few degrees or
moves it by a large part of the frame; such estimates are reported with ``ok=False``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

MIN_INLIERS = 15
RATIO = 0.75
RANSAC_PX = 3.0
MAX_SCALE_DEVIATION = 0.15
MAX_ANISOTROPY = 1.15
MAX_ROTATION_DEG = 10.0
MAX_SHIFT_FRACTION = 0.25
MAX_PERSPECTIVE = 0.1
ECC_MAX_SIDE = 384
ECC_MIN_RHO = 0.6
_VALID_ERODE = 2


@dataclass(frozen=True, slots=True)
class Alignment:
    """The current image registered onto the reference frame.

    Attributes:
        warped: the image warped into the reference frame, uint8 in the image's form
            (HxWx3 BGR or HxW grey; zeros outside ``valid``).
        valid: HxW bool, True where the warped image has real pixels (eroded a little
            so that interpolated borders do not count).
        matrix: 3x3 float64 homography mapping image pixel coordinates to reference
            pixel coordinates (``x_ref ~ matrix @ [x, y, 1]``).
        inliers: number of RANSAC inlier matches (0 for ECC or failures).
        ok: True when a plausible transform was found.
        method: ``"orb-similarity"``, ``"orb-homography"``, ``"ecc"`` or ``"none"``.
    """

    warped: NDArray[np.uint8]
    valid: NDArray[np.bool_]
    matrix: NDArray[np.float64]
    inliers: int
    ok: bool
    method: str


def _grey(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """BGR HxWx3 (or grey HxW) uint8 -> CLAHE-normalised grey HxW uint8."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    return np.asarray(clahe.apply(grey), dtype=np.uint8)


def transform_is_plausible(matrix: NDArray[np.float64], shape: tuple[int, int]) -> bool:
    """Whether a 3x3 image->reference transform could come from a PTZ preset return.

    Args:
        matrix: 3x3 float homography.
        shape: (H, W) of the images.
    """
    if not np.all(np.isfinite(matrix)) or abs(matrix[2, 2]) < 1e-9:
        return False
    m = matrix / matrix[2, 2]
    h, w = shape
    if abs(m[2, 0]) * w + abs(m[2, 1]) * h > MAX_PERSPECTIVE:
        return False
    a = m[:2, :2]
    sv = np.linalg.svd(a, compute_uv=False)
    if sv[1] <= 1e-9 or sv[0] / sv[1] > MAX_ANISOTROPY or np.linalg.det(a) <= 0:
        return False
    scale = math.sqrt(float(np.linalg.det(a)))
    if abs(scale - 1.0) > MAX_SCALE_DEVIATION:
        return False
    angle = math.degrees(math.atan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1]))
    if abs(angle) > MAX_ROTATION_DEG:
        return False
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64).reshape(-1, 1, 2)
    moved = cv2.perspectiveTransform(corners, m).reshape(-1, 2)
    shift = float(np.max(np.linalg.norm(moved - corners.reshape(-1, 2), axis=1)))
    return shift <= MAX_SHIFT_FRACTION * math.hypot(w, h)


def _rms(matrix: NDArray[np.float64], src: NDArray[np.float32], dst: NDArray[np.float32]) -> float:
    """RMS reprojection error (px) of (N,1,2) ``src`` onto ``dst`` under a 3x3 matrix."""
    proj = cv2.perspectiveTransform(src.astype(np.float64), matrix)
    return float(np.sqrt(np.mean(np.sum((proj - dst) ** 2, axis=-1))))


def _orb_transform(
    ref_grey: NDArray[np.uint8], img_grey: NDArray[np.uint8], max_features: int
) -> tuple[NDArray[np.float64] | None, int, str]:
    """Image->reference transform from ORB matches: (3x3 or None, inliers, method).

    A RANSAC homography selects the inliers; a 4-DOF similarity (RANSAC
    `estimateAffinePartial2D`) replaces it when it explains those inliers about as
    well, since small PTZ return errors are nearly similarities and fewer degrees of
    freedom extrapolate better to the frame corners.
    """
    if max_features <= 0:
        return None, 0, "none"
    orb = cv2.ORB.create(nfeatures=max_features)
    kp_r, des_r = orb.detectAndCompute(ref_grey, None)
    kp_i, des_i = orb.detectAndCompute(img_grey, None)
    if des_r is None or des_i is None or len(kp_r) < MIN_INLIERS or len(kp_i) < MIN_INLIERS:
        return None, 0, "none"
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(des_i, des_r, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None, 0, "none"
    src = np.array([kp_i[m.queryIdx].pt for m in good], np.float32).reshape(-1, 1, 2)
    dst = np.array([kp_r[m.trainIdx].pt for m in good], np.float32).reshape(-1, 1, 2)
    homography, inlier_mask = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX)
    if homography is None or inlier_mask is None:
        return None, 0, "none"
    inl = inlier_mask.ravel() > 0
    inliers = int(inl.sum())
    if inliers < MIN_INLIERS:
        return None, inliers, "none"
    h_mat = np.asarray(homography, dtype=np.float64)
    affine, _ = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX
    )
    if affine is not None:
        s_mat = np.vstack([np.asarray(affine, dtype=np.float64), [0.0, 0.0, 1.0]])
        if _rms(s_mat, src[inl], dst[inl]) <= 1.1 * _rms(h_mat, src[inl], dst[inl]) + 0.1:
            return s_mat, inliers, "orb-similarity"
    return h_mat, inliers, "orb-homography"


def ecc_align(
    reference: NDArray[np.uint8], image: NDArray[np.uint8]
) -> tuple[NDArray[np.float64] | None, float]:
    """Euclidean ECC registration on downscaled, blurred grey.

    Args:
        reference: HxWx3 uint8 BGR (or HxW grey) reference view.
        image: current view in the same form and size.

    Returns:
        (3x3 float64 image->reference matrix or None when ECC fails, correlation rho).
    """
    h, w = reference.shape[:2]
    f = min(1.0, ECC_MAX_SIDE / max(h, w))
    size = (max(1, round(w * f)), max(1, round(h * f)))

    def prep(img: NDArray[np.uint8]) -> NDArray[np.float32]:
        g = cv2.resize(_grey(img), size, interpolation=cv2.INTER_AREA).astype(np.float32)
        return np.asarray(cv2.GaussianBlur(g, (5, 5), 0), dtype=np.float32)

    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
    try:
        template = prep(reference)
        everywhere = np.full(template.shape, 255, np.uint8)
        rho, found = cv2.findTransformECC(
            template, prep(image), warp, cv2.MOTION_EUCLIDEAN, criteria, everywhere, 5
        )
    except cv2.error:
        return None, 0.0
    # ECC's warp maps reference (template) coordinates to image coordinates.
    small = np.vstack([np.asarray(found, np.float64), [0.0, 0.0, 1.0]])
    s = np.diag([f, f, 1.0])
    ref_to_img = np.linalg.inv(s) @ small @ s
    return np.linalg.inv(ref_to_img), float(rho)


def warp_to_reference(
    image: NDArray[np.uint8], matrix: NDArray[np.float64]
) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """Warp uint8 ``image`` (HxWx3 or HxW) with the 3x3 image->reference ``matrix``.

    Returns:
        (warped uint8 in the form of ``image``, valid HxW bool).
    """
    h, w = image.shape[:2]
    warped = cv2.warpPerspective(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    ones = np.full((h, w), 255, dtype=np.uint8)
    cover = cv2.warpPerspective(ones, matrix, (w, h), flags=cv2.INTER_NEAREST)
    cover = cv2.erode(cover, np.ones((3, 3), np.uint8), iterations=_VALID_ERODE)
    return np.asarray(warped, dtype=np.uint8), np.asarray(cover > 0)


def align(
    reference: NDArray[np.uint8], image: NDArray[np.uint8], *, max_features: int = 1500
) -> Alignment:
    """Register ``image`` onto ``reference`` (both HxWx3 uint8 BGR, or both HxW uint8
    grey, same size: features and ECC use grey only, so a luma plane will do).

    Tries ORB + ratio test + RANSAC homography first, then ECC (Euclidean) on
    downscaled grey; implausible transforms (see `transform_is_plausible`) are
    rejected. On failure the result has ``ok=False``, ``method="none"``, the identity
    matrix, the unwarped image and an all-False ``valid``.
    """
    if reference.shape != image.shape or reference.ndim not in (2, 3):
        raise ValueError(f"shape mismatch: {reference.shape} vs {image.shape}")
    shape = (int(reference.shape[0]), int(reference.shape[1]))
    matrix, inliers, method = _orb_transform(_grey(reference), _grey(image), max_features)
    if matrix is not None and transform_is_plausible(matrix, shape):
        warped, valid = warp_to_reference(image, matrix)
        return Alignment(warped, valid, matrix, inliers, True, method)
    ecc, rho = ecc_align(reference, image)
    if ecc is not None and rho >= ECC_MIN_RHO and transform_is_plausible(ecc, shape):
        warped, valid = warp_to_reference(image, ecc)
        return Alignment(warped, valid, ecc, 0, True, "ecc")
    return Alignment(image.copy(), np.zeros(shape, dtype=bool), np.eye(3), inliers, False, "none")
