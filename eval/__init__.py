"""Evaluation: MOT metrics (per camera and jointly over cameras) and ReID rank-k / mAP."""
