"""ReID architecture search: Top-k Sample Search over CDNet's CS / CDS spaces and first-order DARTS
over the Auto-ReID space (``mtmc reid search``)."""

from reid.search.config import SearchRecipe
from reid.search.darts import DartsSupernet, MixedOp, SearchCell, derive_edges
from reid.search.searcher import Searcher, build_supernet, search
from reid.search.splits import split_train_val
from reid.search.topk import MBlock, TopKSupernet, space_candidates, straight_through_topk

__all__ = [
    "DartsSupernet",
    "MBlock",
    "MixedOp",
    "SearchCell",
    "SearchRecipe",
    "Searcher",
    "TopKSupernet",
    "build_supernet",
    "derive_edges",
    "search",
    "space_candidates",
    "split_train_val",
    "straight_through_topk",
]
