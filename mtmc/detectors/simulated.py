"""``simulated``: detections derived from ground truth, for synthetic scenes and ablations.

Each ground-truth box is missed with probability
``p_miss = miss_rate + occlusion_miss * (1 - vis) ** occlusion_gamma`` (and always when
``vis < min_visibility``); kept boxes get relative gaussian jitter on centre and size
(clipped at 3 sigma, so the error is bounded) and a high score that drops with
occlusion.  False positives are added per camera and frame (Poisson count), as
person-shaped boxes with lower scores.  Randomness is seeded by (seed, camera, frame),
so a frame's detections do not depend on which frames were asked for before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mtmc.boxes import concat, make_boxes
from mtmc.detectors import DETECTORS
from mtmc.detectors.common import ScheduleParams, camera_indices, check_range, detections
from mtmc.errors import ConfigError, DataError
from mtmc.io.mot import group_by_frame
from mtmc.stages import FrameSet

if TYPE_CHECKING:
    from mtmc.io.scene import Scene

JITTER_CLIP = 3.0  # noise is clipped at this many standard deviations
FP_ASPECT = (0.3, 0.5)  # width / height of a false-positive box (standing people)


@dataclass
class SimulatedParams(ScheduleParams):
    seed: int = 0
    miss_rate: float = 0.05  # miss probability of a fully visible person
    occlusion_miss: float = 0.5  # extra miss probability of a fully occluded person
    occlusion_gamma: float = 2.0  # shape of the occlusion term: (1 - vis) ** gamma
    min_visibility: float = 0.1  # people less visible than this are never detected
    fp_per_frame: float = 0.2  # mean number of false positives per camera and frame (Poisson)
    jitter: float = 0.05  # std of box centre / size noise, relative to the box size
    score_true: float = 0.9  # mean score of a detected, fully visible person
    score_true_std: float = 0.05
    score_occlusion_drop: float = 0.2  # score lost by a fully occluded person
    score_fp: float = 0.4  # mean score of a false positive
    score_fp_std: float = 0.15

    def validate(self, key_path: str = "") -> None:
        super().validate(key_path)
        for name in ("miss_rate", "occlusion_miss", "min_visibility", "score_true", "score_fp"):
            check_range(key_path, name, getattr(self, name), 0.0, 1.0)
        for name in ("score_true_std", "score_fp_std", "score_occlusion_drop"):
            check_range(key_path, name, getattr(self, name), 0.0, 1.0)
        check_range(key_path, "jitter", self.jitter, 0.0, 0.3)  # <= 0.3 keeps jittered sizes positive
        check_range(key_path, "occlusion_gamma", self.occlusion_gamma, 0.0, 100.0)
        check_range(key_path, "fp_per_frame", self.fp_per_frame, 0.0, 1000.0)
        if self.seed < 0:
            raise ConfigError(f"{key_path}.seed: expected a non-negative integer, got {self.seed}")


def miss_probability(vis: np.ndarray, p: SimulatedParams) -> np.ndarray:
    """Probability that a person of visibility ``vis`` is missed."""
    vis = np.clip(vis, 0.0, 1.0)
    prob = p.miss_rate + p.occlusion_miss * (1.0 - vis) ** p.occlusion_gamma
    return np.where(vis < p.min_visibility, 1.0, np.clip(prob, 0.0, 1.0))


class SimulatedDetector:
    """Turns each camera's ground truth into noisy detections, reproducibly."""

    needs_pixels = False  # read by mtmc.pipeline: when False the reader skips decoding frames

    def __init__(self, params: SimulatedParams, scene: Scene | None):
        if scene is None or not scene.cameras:
            raise DataError("detector 'simulated' needs an input scene with ground truth")
        self.params, self.scene = params, scene
        self.gt: list[dict[int, np.ndarray]] = []
        self.image_size: list[tuple[float, float]] = []
        self.fp_heights: list[tuple[float, float]] = []
        for index, cam in enumerate(scene.cameras):
            gt = scene.load_gt(index)
            if gt is None:
                raise DataError(
                    f"camera {cam.name!r}: detector 'simulated' needs ground truth (gt/gt.txt); none found"
                )
            self.gt.append(group_by_frame(gt))
            size = cam.image_size
            if not size or min(size) <= 0:  # unknown: the extent of the ground truth stands in
                size = (
                    float((gt["x"] + gt["w"]).max(initial=1.0)),
                    float((gt["y"] + gt["h"]).max(initial=1.0)),
                )
            self.image_size.append((float(size[0]), float(size[1])))
            if len(gt):  # false positives as tall as the people this camera sees
                lo, hi = np.percentile(gt["h"], [5, 95])
            else:
                lo, hi = 0.2 * size[1], 0.6 * size[1]
            self.fp_heights.append((float(lo), float(max(hi, lo + 1.0))))

    def _true_positives(self, gt: np.ndarray, rng: np.random.Generator, frame: int, cam: int) -> np.ndarray:
        p = self.params
        n = len(gt)
        # Draw every random number for every box, used or not, so results depend only on (seed, camera, frame).
        u_miss = rng.random(n)
        noise = np.clip(rng.standard_normal((n, 4)), -JITTER_CLIP, JITTER_CLIP) * p.jitter
        score_noise = rng.standard_normal(n)
        vis = np.asarray(gt["vis"], dtype=np.float64)
        vis = np.where(np.isfinite(vis) & (vis >= 0), np.clip(vis, 0, 1), 1.0)  # unknown visibility -> 1
        keep = u_miss >= miss_probability(vis, p)
        w, h = gt["w"] * (1 + noise[:, 2]), gt["h"] * (1 + noise[:, 3])
        cx = gt["x"] + gt["w"] / 2 + noise[:, 0] * gt["w"]
        cy = gt["y"] + gt["h"] / 2 + noise[:, 1] * gt["h"]
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)[keep]
        score = p.score_true + p.score_true_std * score_noise - p.score_occlusion_drop * (1 - vis)
        return detections(
            xyxy, np.clip(score, 0.01, 1.0)[keep], frame=frame, camera=cam, image_size=self.image_size[cam]
        )

    def _false_positives(self, rng: np.random.Generator, frame: int, cam: int) -> np.ndarray:
        p = self.params
        n = rng.poisson(p.fp_per_frame)
        width, height = self.image_size[cam]
        lo, hi = self.fp_heights[cam]
        h = np.minimum(rng.uniform(lo, hi, n), height)
        w = np.minimum(h * rng.uniform(*FP_ASPECT, n), width)
        x = rng.random(n) * (width - w)
        y = rng.random(n) * (height - h)
        score = np.clip(p.score_fp + p.score_fp_std * rng.standard_normal(n), 0.01, 1.0)
        xyxy = np.stack([x, y, x + w, y + h], axis=1)
        return detections(xyxy, score, frame=frame, camera=cam, image_size=self.image_size[cam])

    def detect_camera(self, cam: int, frame: int) -> np.ndarray:
        """Simulated detections of scene camera ``cam`` at ``frame``."""
        rng = np.random.default_rng(np.random.SeedSequence([self.params.seed, cam, frame]))
        gt = self.gt[cam].get(frame, make_boxes(0))
        out = concat([self._true_positives(gt, rng, frame, cam), self._false_positives(rng, frame, cam)])
        return out[rng.permutation(len(out))]  # true boxes first would leak which ones are real

    def detect(self, frames: FrameSet) -> list[np.ndarray]:
        return [self.detect_camera(cam, int(frames.frame)) for cam in camera_indices(frames, self.scene)]


@DETECTORS.register("simulated", params=SimulatedParams)
def build_simulated(params: SimulatedParams, scene: Scene | None = None) -> SimulatedDetector:
    return SimulatedDetector(params, scene)
