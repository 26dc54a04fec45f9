"""The sample camera set: the 2017 design's eight test stills and its rule.json, pinned by sha256.

Fetched like models (``VIGIL_MIRROR`` folders/URLs first, then the pinned upstream URL), so an air-gapped site
or CI serves them from a local folder.
"""

from __future__ import annotations

from pathlib import Path

from vigil.vision.catalog import Asset, Progress, fetch_asset

_UPSTREAM = "https://github.com/anuragsoni9/mgmt690-pipeline/raw/233ffc929bc11ae3b1d91dc0b288853097879ada/"

SAMPLE_IMAGES: tuple[Asset, ...] = tuple(
    Asset(file_name=name, url=_UPSTREAM + "test_images/" + name, sha256=digest, size=size)
    for name, digest, size in (
        ("blah.jpg", "f3a0782c1a317f8ed9708fe079c39c8cc81501baa4374cecb72064c1990bd35d", 31852),
        ("dev1_1511891098.jpg", "a38f0535784055030a6e93d484cd364505c17fbf3b71ef3ad48060d89ff74d11", 64489),
        ("dev1_1511891155.jpg", "0d35c972a661a7ff1b28db6e7501a46ba0ce3b1aebf6a6965e7ac287872dc3ab", 100052),
        ("dev1_1511891255.jpg", "f3a0782c1a317f8ed9708fe079c39c8cc81501baa4374cecb72064c1990bd35d", 31852),
        ("dev2_1511891326.jpg", "99cd017eeb2d212a0821442a21a72b17c84f46d2c783cc3f27d9fc54505ef524", 101775),
        ("dev3_1511891385.jpg", "4763547e893b9864eb6f8f307f88a69331bcf651362e8d96fe94e8c36d0328b7", 44962),
        ("dev4_1511891463.jpg", "5867647088c37827572c9e2b39a38dcb63aff9453ee6e759857e5e51d5204b74", 55280),
        ("dev4_1511891512.jpg", "eaa8ab2e93b904b129ee5029de651c38cbebb8725efcee85d068ea37edb94c35", 30942),
    )
)

SAMPLE_RULES = Asset(file_name="rule.json", url=_UPSTREAM + "threat-detect/example_rule/rule.json",
                     sha256="ab9aee1c18ee7e2c6069ab7f5eb70e7a74092637661dca065b77d4890f664aed", size=99)


def fetch_samples(cache_dir: Path, mirrors: list[str] | None = None,
                  progress: Progress | None = None) -> tuple[list[Path], Path]:
    """(sample image paths, rule.json path), cached and verified. Mirrors may hold rule.json in a
    ``pipeline/`` subfolder (as ../shared/data/seed does)."""
    images = [fetch_asset(a, cache_dir, mirrors=mirrors, progress=progress) for a in SAMPLE_IMAGES]
    from vigil.vision.catalog import mirrors_from_env

    found = mirrors_from_env() if mirrors is None else mirrors
    rule_mirrors = [*found, *(f"{m.rstrip('/')}/pipeline" for m in found)]
    return images, fetch_asset(SAMPLE_RULES, cache_dir, mirrors=rule_mirrors, progress=progress)
