"""Global (cross-camera) identity association, chosen by name: ``ASSOCIATORS.build(name, params, ...)``.

Built-ins: ``none`` (per-camera ids made unique across cameras), ``global`` (ground-plane fusion
across cameras + ReID on entry + streaming with windowed / offline refinement) and ``ground``
(multi-view tracking on the ground plane for dense, low-frame-rate scenes such as WILDTRACK).
"""

from mtmc.registry import Registry

ASSOCIATORS: Registry = Registry("association")

from mtmc.association import global_ids as _global_ids  # noqa: E402,F401
from mtmc.association import ground as _ground  # noqa: E402,F401
from mtmc.association import per_camera as _per_camera  # noqa: E402,F401
