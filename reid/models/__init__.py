"""ReID architectures; importing this package registers every built-in model."""

from reid.models import autoreid, cdnet, compact_reid, hacnn, osnet  # noqa: F401  (registers the models)
from reid.models.blocks import count_inference_params  # noqa: F401
from reid.models.cdnet import build_from_genotype  # noqa: F401
