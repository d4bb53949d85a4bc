"""ReID datasets: Market-1501 / DukeMTMC-reID, MSMT17 list files and folder-per-identity layouts.

Every loader returns a :class:`ReidData` of three splits of :class:`Record` (path, pid, camera).
Train pids are relabelled to 0..N-1; query and gallery keep the dataset's pids so the
Market protocol can match them (pid 0 in the gallery is a distractor that never matches).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mtmc.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
MARKET_PATTERN = re.compile(r"([-\d]+)_c(\d+)")
DatasetFormat = Literal["auto", "market", "duke", "msmt17", "folder"]


@dataclass(frozen=True)
class Record:
    path: Path
    pid: int
    camera: int


@dataclass
class ReidData:
    """The three splits of a ReID dataset; ``train`` pids are already relabelled 0..N-1."""

    root: Path
    train: list[Record]
    query: list[Record] = field(default_factory=list)
    gallery: list[Record] = field(default_factory=list)
    train_pids: list[int] = field(default_factory=list)  # original pid of each label

    @property
    def num_classes(self) -> int:
        return len(self.train_pids)

    @property
    def has_eval(self) -> bool:
        return bool(self.query) and bool(self.gallery)

    def summary(self) -> str:
        def ids(recs: list[Record]) -> int:
            return len({r.pid for r in recs})

        return (
            f"{self.root}: train {len(self.train)} images / {self.num_classes} ids, "
            f"query {len(self.query)} / {ids(self.query)}, gallery {len(self.gallery)} / {ids(self.gallery)}"
        )


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def relabel(records: list[Record]) -> tuple[list[Record], list[int]]:
    """Map the pids of ``records`` to 0..N-1 (sorted by original pid)."""
    pids = sorted({r.pid for r in records})
    label = {pid: i for i, pid in enumerate(pids)}
    return [Record(r.path, label[r.pid], r.camera) for r in records], pids


def _require(records: list[Record], where: Path, what: str) -> list[Record]:
    if not records:
        raise DataError(f"no {what} images found (expected {', '.join(IMAGE_EXTENSIONS)} files)", path=where)
    return records


# ----------------------------------------------------------------------------------------------
# Market-1501 / DukeMTMC-reID / `mtmc synth` crops: PPPP_cC..._*.jpg in three folders
# ----------------------------------------------------------------------------------------------


def parse_market_name(path: Path) -> tuple[int, int]:
    """``0002_c1s1_000451_03.jpg`` -> (pid 2, camera 0); a name that does not parse is a DataError."""
    match = MARKET_PATTERN.search(path.name)
    if match is None:
        raise DataError("file name does not follow the Market naming PID_cCAM... (e.g. 0002_c1s1_000451_03.jpg)",
                        path=path)
    pid, cam = int(match.group(1)), int(match.group(2))
    if cam < 1:
        raise DataError(f"camera index must start at 1, got c{cam}", path=path)
    return pid, cam - 1


def read_market_folder(folder: Path, keep_distractors: bool) -> list[Record]:
    """Records of one Market folder; junk (pid -1) dropped, distractors (pid 0) kept on request."""
    if not folder.is_dir():
        raise DataError("missing dataset folder", path=folder)
    records = []
    for path in _images(folder):
        pid, cam = parse_market_name(path)
        if pid == -1 or (pid == 0 and not keep_distractors):
            continue
        if pid < -1:
            raise DataError(f"invalid pid {pid}", path=path)
        records.append(Record(path, pid, cam))
    return records


def load_market(root: Path, require_train: bool = True) -> ReidData:
    """Market-1501 layout (also DukeMTMC-reID and ``mtmc synth`` crops); an evaluation-only copy
    (``query`` + ``bounding_box_test``) loads with ``require_train=False``."""
    train_dir, query_dir, gallery_dir = root / "bounding_box_train", root / "query", root / "bounding_box_test"
    train = []
    if require_train or train_dir.is_dir():
        train = _require(read_market_folder(train_dir, keep_distractors=False), train_dir, "training")
    query = read_market_folder(query_dir, keep_distractors=False) if query_dir.is_dir() else []
    gallery = read_market_folder(gallery_dir, keep_distractors=True) if gallery_dir.is_dir() else []
    if query_dir.is_dir() or gallery_dir.is_dir():
        _require(query, query_dir, "query")
        _require(gallery, gallery_dir, "gallery")
    train, pids = relabel(train)
    return ReidData(root, train, query, gallery, pids)


# ----------------------------------------------------------------------------------------------
# MSMT17: list_{train,query,gallery}.txt with "relative/path.jpg PID" lines
# ----------------------------------------------------------------------------------------------


def _msmt_camera(path: Path) -> int | None:
    # MSMT17 names are PID_INDEX_CAM_..., e.g. 0000_000_01_0303morning_0015_0.jpg (camera 01)
    parts = path.stem.split("_")
    if len(parts) >= 3 and parts[2].isdigit():
        return int(parts[2]) - 1
    match = MARKET_PATTERN.search(path.name)
    return int(match.group(2)) - 1 if match else None


def read_list_file(list_path: Path, image_dirs: list[Path]) -> list[Record]:
    """Parse a ``path pid`` list; errors name ``file:line``. Images are looked up under ``image_dirs``."""
    records = []
    for number, line in enumerate(list_path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DataError(f"expected 'relative/path.jpg PID', got {text!r}", path=list_path, line=number)
        rel, pid = Path(parts[0]), int(parts[1])
        path = next((d / rel for d in image_dirs if (d / rel).is_file()), None)
        if path is None:
            raise DataError(f"image {rel} not found under {', '.join(map(str, image_dirs))}",
                            path=list_path, line=number)
        if pid == -1:
            continue
        cam = _msmt_camera(path)
        records.append(Record(path, pid, cam if cam is not None else -(len(records) + 1)))
    return records


def load_msmt17(root: Path) -> ReidData:
    def split(name: str, subdir: str) -> list[Record]:
        list_path = root / f"list_{name}.txt"
        if not list_path.is_file():
            raise DataError("missing MSMT17 list file", path=list_path)
        return _require(read_list_file(list_path, [root / subdir, root]), list_path, name)

    train, pids = relabel(split("train", "train"))
    return ReidData(root, train, split("query", "test"), split("gallery", "test"), pids)


# ----------------------------------------------------------------------------------------------
# Folder per identity: root/<pid>/*.jpg, or root/{train,query,gallery}/<pid>/*.jpg
# ----------------------------------------------------------------------------------------------


def read_identity_folders(root: Path, first_pseudo_camera: int = 0) -> list[Record]:
    """``root/<pid>/*.jpg``; the camera is parsed from ``_cN`` in the name, else a unique pseudo camera."""
    records = []
    pseudo = first_pseudo_camera
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if not folder.name.lstrip("-").isdigit():
            raise DataError("identity folder names must be integer pids", path=folder)
        pid = int(folder.name)
        for path in _images(folder):
            match = MARKET_PATTERN.search(path.name)
            if match:
                cam = int(match.group(2)) - 1
            else:  # unknown camera: a camera of its own, so no gallery image is ever filtered out
                cam, pseudo = 1000 + pseudo, pseudo + 1
            records.append(Record(path, pid, cam))
    return records


def load_folder(root: Path) -> ReidData:
    if (root / "train").is_dir():
        train = _require(read_identity_folders(root / "train"), root / "train", "training")
        query = read_identity_folders(root / "query", 10**6) if (root / "query").is_dir() else []
        gallery = read_identity_folders(root / "gallery", 2 * 10**6) if (root / "gallery").is_dir() else []
    else:
        train, query, gallery = _require(read_identity_folders(root), root, "training"), [], []
    train, pids = relabel(train)
    return ReidData(root, train, query, gallery, pids)


def detect_format(root: Path) -> str:
    if (root / "bounding_box_train").is_dir() or ((root / "query").is_dir() and (root / "bounding_box_test").is_dir()):
        return "market"
    if (root / "list_train.txt").is_file():
        return "msmt17"
    return "folder"


def load_dataset(root: str | Path, fmt: DatasetFormat = "auto", require_train: bool = True) -> ReidData:
    """Load the ReID dataset at ``root`` (format detected from its layout when ``fmt="auto"``).

    ``require_train=False`` (evaluation) accepts a Market-layout folder without ``bounding_box_train``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError("dataset folder not found", path=root)
    fmt = detect_format(root) if fmt == "auto" else fmt
    if fmt in ("market", "duke"):
        return load_market(root, require_train)
    if fmt == "msmt17":
        return load_msmt17(root)
    if fmt == "folder":
        return load_folder(root)
    raise DataError(f"unknown dataset format {fmt!r}", path=root)
