"""The command line's account and service commands: credits, history, emulator, cache, doctor.

Each command's parser (``_add_*_command``) and handler (``_cmd_*``): the
account's balance and credit history, the API emulator in the foreground, the
folder of kept results, and :mod:`vance_filters.doctor`'s checks of the service.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from ._budget import count as _plural
from ._cli_console import (
    _EXIT_NOTE,
    BASE_ENV,
    EXIT_FAILED,
    EXIT_OK,
    PROG,
    TOKEN_ENV,
    _Console,
    _nonneg_float,
    _positive_int,
    _session,
)
from ._outputs import UsageError as _UsageError

# ---------------------------------------------------------------------------
# credits, history, emulator
# ---------------------------------------------------------------------------


def _add_credits_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "credits",
        help="show the account's credits",
        description="Show the account's credits: total, used, remaining.",
    )
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.set_defaults(handler=_cmd_credits)


def _add_history_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "history",
        help="show the credit history",
        description="Show the credit history (/points/record), newest first.",
    )
    cmd.add_argument(
        "--page", type=_positive_int, default=1, metavar="N", help="page to show [default: 1]"
    )
    cmd.add_argument(
        "--limit",
        type=_positive_int,
        default=20,
        metavar="N",
        help="entries per page [default: 20]",
    )
    cmd.add_argument("--all", action="store_true", help="every page")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.set_defaults(handler=_cmd_history)


def _add_emulator_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "emulator",
        help="run the API emulator in the foreground",
        description="Run the local emulator of the VanceAI API until Ctrl-C, and print the base "
        "URL "
        "and the token to use it from another shell.",
    )
    cmd.add_argument(
        "--host", default="127.0.0.1", help="address to listen on [default: 127.0.0.1]"
    )
    cmd.add_argument(
        "--port", type=int, default=8000, help="port; 0 picks a free one [default: 8000]"
    )
    cmd.add_argument(
        "--credits",
        type=_nonneg_float,
        default=500.0,
        metavar="N",
        help="starting balance [default: 500]",
    )
    cmd.add_argument(
        "--job-duration",
        type=_nonneg_float,
        default=0.0,
        metavar="S",
        help="seconds each job runs [default: 0]",
    )
    cmd.add_argument(
        "--workers",
        type=_positive_int,
        default=4,
        metavar="N",
        help="jobs run at once [default: 4]",
    )
    cmd.add_argument(
        "--echo-jobs",
        action="store_true",
        help="jobs return their upload at the result's size, without the stand-ins' effect "
        "(benchmarks of the client)",
    )
    cmd.set_defaults(handler=_cmd_emulator)


def _cmd_credits(args: argparse.Namespace, console: _Console) -> int:
    with _session(args, console) as client:
        credits = client.credits()
    if args.json:
        console.out(
            json.dumps(
                {"total": credits.total, "used": credits.used, "remaining": credits.remaining}
            )
        )
    else:
        console.out(f"total:     {credits.total:.3f}")
        console.out(f"used:      {credits.used:.3f}")
        console.out(f"remaining: {credits.remaining:.3f}")
    return EXIT_OK


def _entry_json(entry: Any) -> dict[str, Any]:
    return {
        "point_type": entry.point_type,
        "job": entry.job,
        "info": entry.info,
        "point": entry.point,
        "balance": entry.balance,
        "created_at": entry.created_at.strftime("%Y-%m-%d %H:%M:%S") if entry.created_at else None,
    }


def _cmd_history(args: argparse.Namespace, console: _Console) -> int:
    with _session(args, console) as client:
        if args.all:
            entries = list(client.iter_credit_history(limit=args.limit))
            page_info: dict[str, Any] = {"total": len(entries)}
        else:
            page = client.credit_history(page=args.page, limit=args.limit)
            entries = list(page.entries)
            page_info = {
                "current_page": page.current_page,
                "last_page": page.last_page,
                "per_page": page.per_page,
                "total": page.total,
            }
    rows = [_entry_json(e) for e in entries]
    if args.json:
        console.out(json.dumps({"entries": rows, **page_info}, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        console.out("no credit history")
    else:
        header = ("created_at", "type", "job", "info", "points", "balance")
        table = [header] + [
            (
                r["created_at"] or "-",
                r["point_type"],
                r["job"],
                r["info"],
                f"{r['point']:.3f}",
                f"{r['balance']:.3f}",
            )
            for r in rows
        ]
        widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
        for row in table:
            console.out(
                "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
            )
    if not args.all:
        console.out(
            f"page {page_info['current_page']} of {page_info['last_page']} "
            f"({_plural(page_info['total'], 'entry')})"
        )
    return EXIT_OK


def _cmd_emulator(args: argparse.Namespace, console: _Console) -> int:
    if args.emulator or args.api_base:
        raise _UsageError(
            "the emulator command runs a server: it takes no --emulator or --api-base"
        )
    from .testing import Emulator

    emu = Emulator(
        host=args.host,
        port=args.port,
        credits=args.credits,
        job_duration=args.job_duration,
        workers=args.workers,
        echo_jobs=args.echo_jobs,
    )
    try:
        emu.__enter__()
    except OSError as exc:
        raise _UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    try:
        # The emulator's own throw-away token: printing it is the point.
        print(f"VanceAI API emulator listening on {emu.url}", flush=True)
        print(f"API token: {emu.api_token}", flush=True)
        print("Use it from another shell with:", flush=True)
        print(f"  export {BASE_ENV}={emu.url}", flush=True)
        print(f"  export {TOKEN_ENV}={emu.api_token}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("emulator stopped", file=sys.stderr, flush=True)
    finally:
        emu.__exit__(None, None, None)
    return EXIT_OK


# ---------------------------------------------------------------------------
# cache: the folder of kept results
# ---------------------------------------------------------------------------


def _add_cache_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "cache",
        help="show or clear the folder of kept results",
        description="Show where the paid results are kept and how much room they take, or clear "
        "them. The folder is --cache-dir if given, else the platform's cache folder. Past its "
        "bound (VANCE_CACHE_MAX_BYTES, default 2 GiB) the least recently used results go. "
        "Clearing only means a result is paid for again if it is asked for again.",
        epilog=_EXIT_NOTE,
    )
    cmd.add_argument(
        "action",
        nargs="?",
        choices=("show", "clear", "trim"),
        default="show",
        help="show the folder and its size [default]; clear it (every result, or those unused "
        "for --older-than days); trim it to --max-size, least recently used first",
    )
    cmd.add_argument(
        "--older-than",
        type=_nonneg_float,
        metavar="DAYS",
        help="with clear: only results not used for this many days",
    )
    cmd.add_argument(
        "--max-size",
        metavar="SIZE",
        help="the bound, e.g. 500MB or 4GiB [default: $VANCE_CACHE_MAX_BYTES, else 2GiB]",
    )
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.set_defaults(handler=_cmd_cache)


def _cmd_cache(args: argparse.Namespace, console: _Console) -> int:
    from datetime import datetime

    from ._cache import DiskCache, default_cache_dir, disk_max_bytes, format_bytes, parse_bytes

    if args.older_than is not None and args.action != "clear":
        raise _UsageError("--older-than goes with 'cache clear'")
    try:
        bound = disk_max_bytes(None if args.max_size is None else parse_bytes(args.max_size))
    except ValueError as exc:
        raise _UsageError(f"--max-size: {exc}" if args.max_size is not None else str(exc)) from None
    folder = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    cache = DiskCache(folder, max_bytes=bound)
    removed = freed = 0
    if args.action == "clear":
        days = args.older_than
        removed, freed = cache.clear(older_than=None if days is None else days * 86400)
    elif args.action == "trim":
        removed, freed = cache.trim()
    stats = cache.stats()

    def when(stamp: float | None) -> str | None:
        return None if stamp is None else datetime.fromtimestamp(stamp).isoformat(timespec="seconds")

    def entries(n: int) -> str:
        return f"{n} result{'' if n == 1 else 's'}"

    if args.json:
        report: dict[str, Any] = {
            "directory": str(stats.directory),
            "entries": stats.entries,
            "bytes": stats.bytes,
            "max_bytes": stats.max_bytes,
            "oldest_use": when(stats.oldest),
            "newest_use": when(stats.newest),
        }
        if args.action != "show":
            report.update(removed=removed, bytes_removed=freed)
        console.out(json.dumps(report))
        return EXIT_OK
    if args.action != "show":
        console.out(f"removed {entries(removed)} ({format_bytes(freed)})")
    exists = "" if folder.is_dir() else " (not created yet)"
    console.out(f"folder:  {stats.directory}{exists}")
    console.out(
        f"holds:   {entries(stats.entries)}, {format_bytes(stats.bytes)} ({stats.bytes} bytes) "
        f"of at most {format_bytes(stats.max_bytes)}"
    )
    if stats.oldest is not None and stats.newest is not None:
        console.out(f"used:    {when(stats.oldest)} to {when(stats.newest)}".replace("T", " "))
    return EXIT_OK


# ---------------------------------------------------------------------------
# doctor: does the service answer as the library expects?
# ---------------------------------------------------------------------------


def _add_doctor_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "doctor",
        help="check that the service answers as this library expects (1 credit, asked first)",
        description="Check the base URL and the token (/point, /points/record), then upload a "
        "tiny generated image, run one 1-credit Denoise job (transform, progress, download) and "
        "check every answer's shape against what the library relies on. One line per check "
        "(OK, WARN or FAIL, and what was seen); the token is never printed. Asks before "
        "spending. Exit status: 0 every check passed (WARN included), 1 a check failed or the "
        "question was answered no, 2 invalid usage (nothing was sent).",
    )
    cmd.add_argument(
        "-y", "--yes", action="store_true", help="spend the credit(s) without asking"
    )
    cmd.add_argument(
        "--workflow",
        action="store_true",
        help="also run a Denoise + Anime Upscaler workflow: is the anime upscaler accepted in "
        "a workflow, and how is a multi-step job billed? (up to 2 more credits)",
    )
    cmd.add_argument("--json", action="store_true", help="print one JSON object (the report)")
    cmd.set_defaults(handler=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace, console: _Console) -> int:
    from . import doctor
    from .client import DEFAULT_BASE_URL

    if not args.emulator and not os.environ.get(TOKEN_ENV, "").strip():
        raise _UsageError(f"doctor needs the API token: set {TOKEN_ENV} (or add --emulator)")
    cost = doctor.planned_cost(workflow=args.workflow)
    ask = not (args.yes or args.emulator)
    if ask and not sys.stdin.isatty():
        raise _UsageError(
            f"doctor spends {_plural(cost, 'credit')} and asks first, but stdin is "
            "not a terminal: add --yes to run it without the question"
        )

    def confirm(question: str) -> bool:
        if not ask:
            return True
        print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
        return sys.stdin.readline().strip().lower() in ("y", "yes")

    with contextlib.ExitStack() as stack:
        if args.emulator:
            from .testing import Emulator

            emu = stack.enter_context(Emulator())
            base, token = emu.url, emu.api_token
            console.err(f"{PROG}: --emulator: checking an in-process emulator at {base}")
        else:
            token = os.environ[TOKEN_ENV].strip()
            base = args.api_base or os.environ.get(BASE_ENV) or DEFAULT_BASE_URL
        console.secrets.append(token)
        report = doctor.run_doctor(
            base,
            token,
            timeout=args.timeout or 30.0,
            workflow=args.workflow,
            confirm=confirm,
            on_check=None if args.json else lambda check: console.out(doctor.render_line(check)),
        )
    if args.json:
        console.out(json.dumps(report.as_json(), ensure_ascii=False))
    elif report.declined:
        console.err("stopped before spending anything: the paid checks did not run")
    elif report.ok:
        spent = "?" if report.credits_spent is None else f"{report.credits_spent:g}"
        console.out(f"every check passed ({spent} credit{'' if spent == '1' else 's'} spent)")
    if report.diagnosis and not args.json:
        console.error(report.diagnosis)
    return EXIT_OK if report.ok else EXIT_FAILED


# ---------------------------------------------------------------------------
# provenance and replay: what made a file, and making it again
# ---------------------------------------------------------------------------


def _add_provenance_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "provenance",
        help="show which jobs and settings made an output file",
        description="Print the provenance record vance-filters wrote into FILE (XMP in a PNG, "
        "JPEG or WebP; a metadata tag in an .mp4 .mov .mkv .webm video): the service's trans_id(s), the filter and its jconfig, the SHA-256 of "
        "the input and of the uploaded bytes, the credits charged, the service, the library "
        "version and the IPTC digital source type. A file without a record: exit status 1.",
        epilog=_EXIT_NOTE,
    )
    cmd.add_argument("file", type=Path, metavar="FILE", help="an output file")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.set_defaults(handler=_cmd_provenance)


def _read_record(path: Path) -> Any:
    from . import provenance

    try:
        return provenance.read(path)
    except OSError as exc:
        raise _UsageError(f"{os.fspath(path)!r}: {exc.strerror or exc}") from None


def _cmd_provenance(args: argparse.Namespace, console: _Console) -> int:
    from . import video

    if video.is_video(args.file):  # the record is a tag of the container
        from ._cli_video import print_record

        return print_record(args.file, console, as_json=args.json)
    record = _read_record(args.file)
    if record is None:
        console.error(f"{args.file}: no vance-filters provenance record in this file")
        return EXIT_FAILED
    if args.json:
        console.out(json.dumps({"file": os.fspath(args.file), **record.as_json()}, ensure_ascii=False))
        return EXIT_OK
    ids = ", ".join(record.trans_ids) or "none (every job came from the cache)"
    rows = [
        ("file", os.fspath(args.file)),
        ("filter", record.filter),
        ("trans_id", ids),
        ("credits", f"{record.credits:g}"),
        ("jconfig", json.dumps(record.jconfig, ensure_ascii=False, sort_keys=True)),
        ("input sha256", record.input_sha256 or "unknown (the input was an image in memory)"),
        ("service", record.service),
        ("library", record.library),
        ("made", record.created),
        ("source type", record.digital_source_type),
    ]
    for key, value in rows:
        console.out(f"{key + ':':<14}{value}")
    console.out(f"{_plural(len(record.jobs), 'job')}:")
    for job in record.jobs:
        how = "from the cache" if job.cached else _plural(job.credits, "credit")
        console.out(f"  {job.trans_id or '(no trans_id)'}  {how}  uploaded sha256 {job.upload_sha256}")
    return EXIT_OK


def _add_replay_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "replay",
        help="make an output again from the settings recorded in it",
        description="Redo the job that made FILE, from the provenance record in it. With --input "
        "(the original input, checked against the recorded SHA-256) the filter runs as the "
        "feature command runs it (free when the result is still cached). Without --input the "
        "job's result is taken from the result cache, found by the recorded upload digest, "
        "jconfig and service: no request, no credit; it is the result as the service sent it. "
        "The output is DIR/<FILE's name>, with a new provenance record.",
        epilog=_EXIT_NOTE,
    )
    cmd.add_argument("file", type=Path, metavar="FILE", help="an output file with a record")
    cmd.add_argument(
        "-o", "--output-dir", type=Path, required=True, metavar="DIR", help="folder for the result"
    )
    cmd.add_argument(
        "--input", type=Path, metavar="PATH", help="the original input (else: from the cache)"
    )
    cmd.add_argument(
        "--overwrite", action="store_true", help="replace an output of that name in DIR"
    )
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.set_defaults(handler=_cmd_replay)


def _cmd_replay(args: argparse.Namespace, console: _Console) -> int:
    import dataclasses
    import hashlib

    from . import provenance
    from ._cache import cache_key_from_digest
    from ._outputs import (
        CONTAINER_SUFFIXES,
        check_existing,
        filter_from_spec,
        read_file_bytes,
        sniff_format,
        write_output,
    )

    record = _read_record(args.file)
    if record is None:
        console.error(f"{args.file}: no vance-filters provenance record in this file: nothing to replay")
        return EXIT_FAILED
    data: Any = None
    if args.input is not None:
        try:
            source = read_file_bytes(args.input)
        except OSError as exc:
            raise _UsageError(f"--input {os.fspath(args.input)!r}: {exc.strerror or exc}") from None
        if record.input_sha256 and hashlib.sha256(source).hexdigest() != record.input_sha256:
            raise _UsageError(
                f"--input {os.fspath(args.input)!r} is not the input recorded in {args.file} "
                "(its SHA-256 differs)"
            )
        if record.spec is not None:
            try:
                flt = filter_from_spec(record.spec)
            except ValueError as exc:
                raise _UsageError(f"{args.file}: {exc}") from None
        else:
            from ._cli_batch import _RunJob

            flt = _RunJob(record.jconfig)
    elif len(record.jobs) != 1:
        raise _UsageError(
            f"{args.file} was made by {len(record.jobs)} jobs (the frames of an animation): "
            "give its input again with --input PATH"
        )
    with _session(args, console) as client:
        if args.input is not None:
            with provenance.recording() as recorder:
                value = flt.apply(source, client=client)
            data = getattr(value, "data", value)
            made = recorder.provenance(input_sha256=hashlib.sha256(source).hexdigest())
            how = "input"
        else:
            if client.cache is None:
                raise _UsageError("the result cache is off (--no-cache): give the input with --input PATH")
            job = record.jobs[0]
            try:
                key = cache_key_from_digest(job.upload_sha256, record.jconfig)
            except (ValueError, TypeError):
                raise _UsageError(f"{args.file}: the record's upload digest is malformed") from None
            data = client.cache.get(key)
            if data is None:
                where = "" if record.service == client.base_url else (
                    f"; the record names the service {record.service}, this run uses {client.base_url}"
                )
                console.error(
                    f"{args.file}: the result cache holds no result for this job{where}: give the "
                    "input again with --input PATH (or --cache-dir, the folder the first run used)"
                )
                return EXIT_FAILED
            made = dataclasses.replace(
                record,
                jobs=(dataclasses.replace(job, cached=True, credits=0.0),),
                service=client.base_url,
                created=provenance.now(),
            )
            how = "cache"
    kind = sniff_format(bytes(data[:32]))
    name = args.file.name
    if kind is not None and args.file.suffix.lower() not in CONTAINER_SUFFIXES[kind]:
        name = args.file.stem + CONTAINER_SUFFIXES[kind][0]
    output = args.output_dir / name
    with contextlib.suppress(OSError):
        if output.exists() and output.samefile(args.file):
            raise _UsageError(f"the replay of {args.file} would replace it: choose another -o")
    if output.exists() and not args.overwrite:
        found = check_existing(output, record.jconfig, rerun="use --overwrite or another -o")
        if not found.done:
            console.error(f"{output} {found.reason}")
            return EXIT_FAILED
        status = "skipped"
    else:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        write_output(output, bytes(data), made)
        status = "written"
    if args.json:
        console.out(json.dumps({
            "file": os.fspath(args.file), "output": os.fspath(output), "status": status,
            "from": how, "trans_ids": made.trans_ids if made else [],
            "credits": made.credits if made else 0.0,
        }))
    else:
        cost = "no credit" if not made or not made.credits else _plural(made.credits, "credit")
        console.err(f"{status}: {output} (from the {how}, {cost})")
    return EXIT_OK
