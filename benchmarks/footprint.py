"""Section 4: what the build weighs and what one container holds in memory.

Why: the performance budget caps the built layer at 10 MB (boto3 is never
vendored: the runtime has it) and each function's own code at 100 KB, and a
container's memory decides the MemorySize it needs. Peak RSS comes from the
cold-start runs (VmHWM in the child after its first invoke).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from benchmarks.build import tree_size
from benchmarks.cold_start import peak_rss_mb
from ringcx_dev.lambda_process import BuiltStack

LAYER_LIMIT = 10 * 1024 * 1024
FUNCTION_LIMIT = 100 * 1024
FUNCTIONS = ("ExchangeFunction", "RefreshFunction", "ProxyFunction")
VENDORED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")


def zipped_size(path: Path) -> int:
    """The deployment package size (deflated), as ``sam deploy`` would upload it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            archive.write(file, file.relative_to(path))
    return buffer.tell()


def layer_packages(layer: Path) -> dict[str, int]:
    """Bytes per top-level package, dist-info folded into its package."""
    sizes: dict[str, int] = {}
    for entry in layer.iterdir():
        name = entry.name.split("-", 1)[0] if entry.name.endswith(".dist-info") else entry.name
        name = name.removesuffix(".py")
        size = tree_size(entry) if entry.is_dir() else entry.stat().st_size
        sizes[name] = sizes.get(name, 0) + size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def measure(built: BuiltStack, cold: dict[str, Any] | None) -> dict[str, Any]:
    layer = built.layer_dir
    return {
        "layer_bytes": tree_size(layer),
        "layer_zipped_bytes": zipped_size(layer),
        "layer_limit_bytes": LAYER_LIMIT,
        "layer_packages_bytes": layer_packages(layer),
        "layer_vendors_runtime_packages": [
            name for name in VENDORED_BY_RUNTIME if (layer / name).exists()
        ],
        "function_bytes": {name: tree_size(built.function_dir(name)) for name in FUNCTIONS},
        "function_limit_bytes": FUNCTION_LIMIT,
        "peak_rss_mb": peak_rss_mb(cold) if cold else {},
    }
