"""The command line's video inputs: ``vance-filters enlarge clip.mp4 --scale 2 -o out/``.

A feature command given video files (.mp4 .mov .mkv .webm) sends each through
:func:`vance_filters.video.process`: its plan (frames, distinct frames,
credits, balance) is printed first (``--dry-run`` prints only that), and the
clip is written to ``<output dir>/<stem><same suffix>``. An output that exists
is complete (the run writes it under a temporary name and renames it at the
end), so a rerun skips it; a killed run, rerun, finds its paid results in the
disk cache (the CLI's default) and its jobs under way in the journal.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import filters as _filters
from . import video as _video
from ._cli_console import EXIT_FAILED, EXIT_OK, EXIT_USAGE, _Console, _session
from ._outputs import UsageError, safe_stem
from .errors import CreditLimitError

__all__ = ["add_video_options", "run_videos"]


def add_video_options(cmd: argparse.ArgumentParser) -> None:
    """The options of video inputs (ignored for images)."""
    group = cmd.add_argument_group("video options (for .mp4 .mov .mkv .webm inputs)")
    group.add_argument(
        "--video-codec",
        default="libx264",
        metavar="NAME",
        help="FFmpeg encoder of the output's video [default: libx264]",
    )
    group.add_argument(
        "--crf",
        type=int,
        default=18,
        metavar="N",
        help="the encoder's constant rate factor, lower is better [default: 18]",
    )
    group.add_argument(
        "--repeat-threshold",
        type=float,
        default=_video.DEFAULT_THRESHOLD,
        metavar="LEVELS",
        help="a frame whose 4x4-block means differ from the last frame sent by at most this "
        "(0-255) reuses its result; 0: only identical frames "
        f"[default: {_video.DEFAULT_THRESHOLD:g}]",
    )
    group.add_argument(
        "--on-error",
        choices=("raise", "keep"),
        default="raise",
        help="a frame that fails: stop (naming it), or keep its original picture and report it "
        "[default: raise]",
    )


def run_videos(
    args: argparse.Namespace, console: _Console, flt: _filters.Filter, sources: list[Path]
) -> int:
    """Process every video of ``sources`` into ``args.output_dir``; the exit status."""
    if not all(_video.is_video(source) for source in sources):
        raise UsageError("videos and images in one command: process them in separate runs")
    outputs = [args.output_dir / f"{safe_stem(source.stem)}{source.suffix.lower()}" for source in sources]
    if len({str(o).lower() for o in outputs}) != len(outputs):
        raise UsageError("two videos would have the same output name: process them in separate runs")
    status = EXIT_OK
    with _session(args, console, pool=args.concurrency) as client:
        for source, output in zip(sources, outputs):
            if output.exists() and not args.overwrite:
                console.err(f"skipped: {source}: {output} exists (--overwrite redoes it)")
                continue
            planned = _video.plan(
                flt, source, client=client, threshold=args.repeat_threshold
            )
            if args.json and args.dry_run:
                console.out(json.dumps({"dry_run": True, "input": str(source), **_as_json(planned)}))
            elif args.dry_run:
                console.out(f"{source}: {planned}")
            else:
                console.err(f"{source}: {planned}")
            if args.dry_run:
                continue
            args.output_dir.mkdir(parents=True, exist_ok=True)
            try:
                report = _video.process(
                    flt,
                    source,
                    output,
                    client=client,
                    max_credits=args.max_credits,
                    concurrency=args.concurrency,
                    threshold=args.repeat_threshold,
                    on_error=args.on_error,
                    video_codec=args.video_codec,
                    crf=args.crf,
                    progress=not (args.quiet or args.json),
                    checked=planned,
                )
            except CreditLimitError as exc:
                console.error(exc)
                return EXIT_USAGE
            for kept in report.kept:
                console.err(
                    f"kept original: {source}: frame {kept.frame} at {kept.time:.3f} s: {kept.error}"
                )
            if report.kept:
                status = EXIT_FAILED
            if args.json:
                console.out(
                    json.dumps(
                        {
                            "input": str(source),
                            "output": str(output),
                            "frames": report.frames,
                            "distinct": report.distinct,
                            "kept": [vars(k) for k in report.kept],
                        }
                    )
                )
            elif not args.quiet:
                console.err(f"written: {output} ({report.frames} frames, {report.distinct} distinct)")
    return status


def _as_json(planned: _video.VideoPlan) -> dict[str, object]:
    return {
        "frames": planned.frames,
        "distinct": planned.distinct,
        "cached": planned.cached,
        "credits": planned.credits,
        "worst": planned.worst,
        "balance": planned.balance,
    }
