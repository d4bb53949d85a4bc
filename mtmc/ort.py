"""onnxruntime session options shared by every ONNX stage (detectors, ReID)."""

from __future__ import annotations

from typing import Any


def session_options(threads: int = 0) -> Any:
    """Options for a session that shares the CPU with the other pipeline stages.

    onnxruntime's intra-op threads spin-wait for the next call by default.  In the pipeline the next call
    comes only after the other stages ran, so the spinning threads take those stages' cores (two ONNX
    models on a 2-core machine slowed each other down by ~25 %); they sleep instead."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
