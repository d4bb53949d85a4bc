"""Parameters of the ``global`` association, grouped by the stage that reads them.

``configs/association/global.yaml`` lists every one with its default and meaning; in a config they
are nested under ``association.params``, e.g. ``association.params.entry.reid_threshold=0.55``.
Distances are metres on the ground plane, times seconds, similarities cosine.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FusionParams:
    """Cross-camera fusion: a new tracklet joins the person another camera sees where it stands."""

    match_distance: float = 0.8  # mean ground distance of one person seen by two cameras at once
    window_seconds: float = 0.5  # how long a new tracklet is watched before it joins another camera's person
    min_similarity: float = 0.3  # appearance veto (when embeddings exist)
    appearance_weight: float = 1.0  # metres of cost per unit of cosine distance (tie-breaker)


@dataclass
class EntryParams:
    """ReID on entry: a tracklet nobody explains is a returning person, a continuation, or somebody new."""

    reid_threshold: float = 0.5  # gallery similarity to take an old identity back
    min_embeddings: int = 4  # crops collected before the decision...
    decision_seconds: float = 1.5  # ...or this long after the entry, whichever comes first
    continuation_bonus: float = 0.15  # similarity credit for a nearby, recently lost candidate
    reconnect_seconds: float = 2.0  # a lost identity can be continued by a new tracklet nearby...
    reconnect_distance: float = 0.5  # ...within this distance plus max_speed * gap
    max_speed: float = 1.0  # m/s


@dataclass
class ConsistencyParams:
    """Splits: a tracklet that stops being its identity (a per-camera tracker id switch) is detached."""

    distance: float = 1.5  # far from where the other cameras see the identity...
    seconds: float = 0.6  # ...for this long
    similarity: float = 0.3  # a crop less similar than this to the identity's gallery is a strike...
    strikes: int = 2  # ...and this many in a row detach the tracklet
    swap_overlap_seconds: float = 0.3  # two identities seen at once in one camera for longer cannot merge


@dataclass
class SchedulingParams:
    """ReID scheduling: which crops are worth embedding."""

    refresh_seconds: float = 0.5  # re-embed a known tracklet this often (gallery refresh)
    min_crop_height: float = 40.0  # px
    max_crop_overlap: float = 0.2  # max IoU with another person for a clean crop
    border_margin: float = 2.0  # px: crops cut by the image border are not clean


@dataclass
class AppearanceParams:
    """How identities remember and compare what people look like."""

    gallery_size: int = 40  # most recent clean crops kept per identity
    center_embeddings: bool = False  # compare embeddings minus the scene's mean one (ReLU embeddings)


@dataclass
class RefineParams:
    """Re-entry decisions taken again on whole visits: at the end (offline) or within the latency window."""

    offline: bool = False  # end of sequence: re-cluster every visit (the final ids of a non-streaming run)
    window: bool = True  # with latency_seconds > 0: re-cluster the visits still open in the window
    every_seconds: float = 0.5  # how often the window re-clustering runs
    threshold: float = 0.6  # visit similarity to be the same person
    max_overlap: float = 0.35  # share of a visit's frames that may overlap another's in one camera


@dataclass
class GlobalParams:
    """Everything the ``global`` association reads, one group per stage."""

    latency_seconds: float = 0.0  # ids of frame t are emitted at t + latency and never change afterwards
    fusion: FusionParams = field(default_factory=FusionParams)
    entry: EntryParams = field(default_factory=EntryParams)
    consistency: ConsistencyParams = field(default_factory=ConsistencyParams)
    scheduling: SchedulingParams = field(default_factory=SchedulingParams)
    appearance: AppearanceParams = field(default_factory=AppearanceParams)
    refine: RefineParams = field(default_factory=RefineParams)


def frames_for(seconds: float, fps: float) -> int:
    """A duration in frames, at least one."""
    return max(1, int(round(seconds * fps)))
