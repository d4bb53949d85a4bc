"""Evaluation: MOT metrics (per camera and jointly over cameras) and ReID rank-k / mAP."""

# The NumPy 2 shim must run before motmetrics / trackeval are imported; importing it here, in the
# package itself, guarantees that for every ``eval.*`` module whatever the import order.
from eval import _compat  # noqa: F401
