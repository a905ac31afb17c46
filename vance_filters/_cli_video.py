"""The command line's video inputs: ``vance-filters enlarge clip.mp4 --scale 2 -o out/``.

A feature command given video files (.mp4 .mov .mkv .webm) sends each through
:func:`vance_filters.video.process`: its plan (frames, distinct frames,
credits, balance) is printed first (``--dry-run`` prints only that), and the
clip is written to ``<output dir>/<stem><same suffix>``, with its provenance
record in the container's metadata (:data:`vance_filters.video.RECORD_KEY`).
An output that exists is complete (the run writes it under a temporary name and
renames it at the end): a rerun skips it when its record names the same filter
settings and video options, redoes it when the record lists frames kept as
originals (failed jobs), and refuses it (a conflict, exit status 1) when it was
made with other settings or holds no record, as for images; ``--overwrite``
redoes it. A killed run, rerun, finds its paid results in the disk cache (the
CLI's default) and its jobs under way in the journal.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import filters as _filters
from . import video as _video
from ._cli_console import EXIT_FAILED, EXIT_OK, EXIT_USAGE, _Console, _session
from ._outputs import UsageError, check_existing_video, safe_stem
from .errors import CreditLimitError, InputError

__all__ = ["add_video_options", "print_record", "run_videos"]


def add_video_options(cmd: argparse.ArgumentParser) -> None:
    """The options of video inputs (ignored for images)."""
    group = cmd.add_argument_group("video options (for .mp4 .mov .mkv .webm inputs)")
    group.add_argument(
        "--video-codec",
        default=None,
        metavar="NAME",
        help="FFmpeg encoder of the output's video [default: libvpx-vp9 for .webm, else libx264]",
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
        "--video-upload-format",
        choices=("jpeg", "png", "auto"),
        default=_video.DEFAULT_UPLOAD_FORMAT,
        help="how frames are uploaded: JPEG q95 (a decoded frame is already lossy; several "
        "times faster than PNG), lossless PNG, or as for images "
        f"[default: {_video.DEFAULT_UPLOAD_FORMAT}]",
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
    jconfig = flt.to_jconfig()
    with _session(args, console, pool=args.concurrency) as client:
        for source, output in zip(sources, outputs):
            wanted = _video.settings(
                video_codec=args.video_codec or _video.default_codec(output), crf=args.crf,
                threshold=args.repeat_threshold, upload_format=args.video_upload_format,
            )  # fmt: skip
            if output.exists() and not args.overwrite:
                found = check_existing_video(output, jconfig, wanted)
                if found.done or found.reason is not None:
                    if args.json:
                        state = {"status": "skipped" if found.done else "conflict"}
                        if found.reason is not None:
                            state["conflict"] = found.reason
                        console.out(json.dumps({"input": str(source), "output": str(output), **state}))
                    elif found.done:
                        console.err(f"skipped: {source}: {output} exists, made with these settings")
                    else:
                        console.err(f"conflict: {output} {found.reason}")
                    status = status if found.done else EXIT_FAILED
                    continue
                console.err(f"redoing: {output} (frames were kept as originals)")
            planned = _video.plan(
                flt,
                source,
                client=client,
                threshold=args.repeat_threshold,
                upload_format=args.video_upload_format,
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
                    upload_format=args.video_upload_format,
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


def print_record(path: Path, console: _Console, *, as_json: bool) -> int:
    """``vance-filters provenance CLIP``: the record :func:`vance_filters.video.process` wrote."""
    try:
        record = _video.record_of(path)
    except InputError as exc:
        console.error(exc)
        return EXIT_FAILED
    if record is None:
        console.error(f"{path}: no vance-filters provenance record in this file")
        return EXIT_FAILED
    data = record.as_json()
    if as_json:
        console.out(json.dumps({"file": str(path), **data}, ensure_ascii=False))
        return EXIT_OK
    rows = [
        ("file", str(path)),
        ("filter", record.provenance.filter),
        ("jconfig", json.dumps(record.provenance.jconfig, ensure_ascii=False, sort_keys=True)),
        ("video", ", ".join(f"{key}={value}" for key, value in record.settings.items())),
        ("frames", f"{record.frames} ({record.distinct} distinct)"),
        ("credits", f"{record.credits:g} planned (cached pictures free)"),
        ("kept", ", ".join(map(str, record.kept)) or "none (every frame processed)"),
        ("service", record.provenance.service),
        ("library", record.provenance.library),
        ("made", record.provenance.created),
        ("source type", record.provenance.digital_source_type),
    ]
    for key, value in rows:
        console.out(f"{key + ':':<14}{value}")
    return EXIT_OK


def _as_json(planned: _video.VideoPlan) -> dict[str, object]:
    return {
        "frames": planned.frames,
        "distinct": planned.distinct,
        "cached": planned.cached,
        "credits": planned.credits,
        "worst": planned.worst,
        "balance": planned.balance,
    }
