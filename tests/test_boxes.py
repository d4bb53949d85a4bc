"""BoxLog: a run's boxes appended frame by frame come back whole, in order, from a few joined arrays."""

import numpy as np

from mtmc.boxes import BoxLog, make_boxes


def _frame(f: int, n: int) -> np.ndarray:
    b = make_boxes(n)
    b["frame"], b["id"] = f, np.arange(n)
    return b


def test_box_log_keeps_every_box_in_order_and_joins_chunks():
    log = BoxLog(chunk=4)
    parts = [_frame(f, f % 3) for f in range(1, 20)]
    for p in parts:
        log.append(p)
    assert len(log._joined) >= 2 and len(log._recent) < 4  # joined every 4 non-empty appends
    out = log.take()
    expected = np.concatenate(parts)
    for name in expected.dtype.names:  # field by field: NaN (unset ground points) equals NaN there
        np.testing.assert_array_equal(out[name], expected[name])
    assert len(log.take()) == 0  # taking empties the log
