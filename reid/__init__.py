"""Compact person re-identification: model zoo, embedders, training and architecture search."""

from reid.registry import MODELS, ModelInfo, build_model, model_info, register_model

__all__ = ["MODELS", "ModelInfo", "build_model", "model_info", "register_model"]
