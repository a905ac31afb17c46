"""vance_filters: every VanceAI image feature as a local-looking filter.

Hand over a PIL image, a numpy array, bytes or a path; get the same kind of
image back. Uploading, limits, jobs, polling and downloads happen inside.

Examples
--------
>>> import vance_filters as vf
>>> vf.Enlarge(scale=4)
Enlarge(scale=4, suppress_noise=40, remove_blur=60)
"""

from __future__ import annotations

from . import batch, frames, provenance, tiles, video
from .aio import amap
from ._defaults import default_client, set_default_client
from .batch import map
from .client import Client, JobResult
from .errors import *  # noqa: F403
from .errors import __all__ as _errors_all
from .compare import compare
from .filters import (
    Animegan,
    Cartoonize,
    Colorize,
    Denoise,
    EnhanceFaces,
    Enlarge,
    Filter,
    Pipeline,
    Recolor,
    RemoveBackground,
    Repair,
    Restore,
    Sharpen,
    ToAnime,
    UpscaleAnime,
)
from .functions import *  # noqa: F403
from .functions import __all__ as _functions_all
from .provenance import save
from .plan import Plan, plan
from .records import Credits, HistoryEntry, HistoryPage, Job, Progress, Upload
from .tiles import TileRefusedError

__version__ = "0.1.0"

__all__ = [
    *_errors_all,
    *_functions_all,
    "Animegan",
    "Cartoonize",
    "Client",
    "Colorize",
    "Credits",
    "Denoise",
    "EnhanceFaces",
    "Enlarge",
    "Filter",
    "HistoryEntry",
    "HistoryPage",
    "Job",
    "JobResult",
    "Pipeline",
    "Plan",
    "Progress",
    "Recolor",
    "RemoveBackground",
    "Repair",
    "Restore",
    "Sharpen",
    "TileRefusedError",
    "ToAnime",
    "Upload",
    "UpscaleAnime",
    "amap",
    "compare",
    "default_client",
    "map",
    "save",
    "plan",
    "set_default_client",
]
