"""A list import: --rows rows (default 100,000) validated and staged, then a sample of
them captured by the `LeadImport` workflow, beside the same number of single captures.

1. Validation: a CSV of --rows rows (2% bad addresses, 1% repeats of an earlier row) read
   and validated by `prepare_import` (the single capture's `build_capture` per row) in this
   process: rows/s and this process's peak RSS; then staged in `<data_dir>/imports.db`
   (`ImportStore.stage`, one transaction): rows/s and the file's size.
2. Capture, on a real stack (bench/lib.py: dev server as `mops up` starts it, sandbox and
   one worker process): a file of --capture-rows rows of the same shape (so about 2% fewer
   new leads) on the `bench-loop` journey (its first
   step waits, so no email is sent) imported by a `LeadImport` workflow at --rate, from the
   start to its result: rows/s; and, as the baseline, the same number of other new leads
   captured one after another by `LeadService.capture`: rows/s. The worker's peak RSS
   (sampled every 0.2 s) in each.

With --full the import is the validated file itself: every accepted row of --rows captured by
the workflow (hours at the rates this machine sustains), progress on stderr each minute, and
the baseline --baseline-rows single captures (the rate of single captures does not need
100,000 of them to be measured).

    .venv/bin/python bench/lead_import.py                                   # 100,000 rows, 500 captured
    .venv/bin/python bench/lead_import.py --full --baseline-rows 1000       # all 100,000 imported
    .venv/bin/python bench/lead_import.py --rows 2000 --capture-rows 50 --no-results
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lib  # noqa: E402

from mops.lead_imports import ImportRecord, ImportStore  # noqa: E402
from mops.temporal import connect  # noqa: E402
from starter.service.lead_imports import LeadImportService, prepare_import  # noqa: E402
from starter.service.leads import LeadService, build_capture  # noqa: E402
from workflows.lead_import import LeadImportWorkflow  # noqa: E402

JOURNEY = "bench-loop"


def csv_rows(tag: str, n: int) -> bytes:
    """`n` rows: every 50th a bad address, every 100th (offset) the address of the row before."""
    lines = ["Email,First,Company,Country"]
    for i in range(1, n + 1):
        if i % 50 == 0:
            email = f"not-an-address-{i}"
        elif i % 100 == 1 and i > 1:
            email = lib.lead_email(tag, i - 1)
        else:
            email = lib.lead_email(tag, i)
        lines.append(f"{email},Row{i},Company {i % 97},DE")
    return ("\n".join(lines) + "\n").encode()


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


async def sample_rss(pid: int, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        peak = max(peak, lib.rss_bytes(pid))
        await asyncio.sleep(0.2)
    return peak


async def measure(args) -> dict:
    config = lib.Config("mops", worker_tuning=True, server_tuning=True, worker_set=lib.parse_kv(args.worker_set))
    async with lib.running(config, data_root=args.data_dir) as stack:
        s = stack.settings
        tag = uuid.uuid4().hex[:8]
        data = csv_rows(tag, args.rows)
        rss_before = peak_rss_bytes()
        started = time.perf_counter()
        prepared = prepare_import(
            s,
            data,
            file_name="bench.csv",
            column_map="email=Email,first_name=First,company=Company,country=Country",
            journey_id=JOURNEY,
            consent_source="bench",
        )
        validate_s = time.perf_counter() - started
        validate_rss = peak_rss_bytes()
        store = ImportStore(s.lead_imports_file)
        started = time.perf_counter()
        store.stage(
            ImportRecord(
                prepared.import_id,
                JOURNEY,
                prepared.sha256,
                "bench.csv",
                "bench",
                prepared.rows_read,
                prepared.accepted,
                len(prepared.rejections),
                staged_at=datetime.now(UTC),
                finished_at=None,
            ),
            prepared.journey,
            prepared.staged,
            prepared.rejections,
        )
        stage_s = time.perf_counter() - started
        store.close()
        print(
            f"validated {args.rows} rows in {validate_s:.1f} s, staged {prepared.accepted} in {stage_s:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        result = {
            "worker": config.describe(),
            "rows": args.rows,
            "accepted": prepared.accepted,
            "rejected": len(prepared.rejections),
            "validate_s": validate_s,
            "stage_s": stage_s,
            "rss_before": rss_before,
            "validate_rss": validate_rss,
            "store_bytes": s.lead_imports_file.stat().st_size,
        }
        del data

        client = await connect(s)
        worker = stack.workers[0].pid
        if args.full:
            # The import: the validated file itself, already staged above (start finds it so).
            imported = prepared
        else:
            # The import: a file of --capture-rows new leads.
            del prepared
            sample = csv_rows(f"{tag}i", args.capture_rows).replace(b"not-an-address", b"x")  # no rejections needed
            imported = prepare_import(
                s,
                sample,
                file_name="sample.csv",
                column_map="email=Email,first_name=First,company=Company,country=Country",
                journey_id=JOURNEY,
                consent_source="bench",
            )
        imports = LeadImportService(client, s)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(worker, stop))
        meter = lib.CpuMeter(stack.pids()).start()
        started = time.perf_counter()
        await imports.start(imported, rows_per_second=args.rate)
        handle = client.get_workflow_handle_for(LeadImportWorkflow.run, imported.import_id)
        reporter = asyncio.create_task(report_progress(handle, started))
        done = await handle.result()
        import_s = time.perf_counter() - started
        reporter.cancel()
        stop.set()
        result.update(
            import_rows=done.counts.captured,
            import_s=import_s,
            import_worker_rss=await sampler,
            import_cores=meter.stop(),
            full=args.full,
        )
        del imported

        # The baseline: single captures, one after another.
        leads = LeadService(client, s)
        baseline_rows = done.counts.captured if args.baseline_rows is None else args.baseline_rows
        emails = [lib.lead_email(f"{tag}b", i) for i in range(baseline_rows)]
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(worker, stop))
        started = time.perf_counter()
        for i, email in enumerate(emails):
            await leads.capture(
                build_capture(
                    s,
                    email=email,
                    first_name=f"Row{i}",
                    company="Company",
                    country="DE",
                    source="import",
                    consent=True,
                    journey_id=JOURNEY,
                )
            )
        single_s = time.perf_counter() - started
        stop.set()
        result.update(single_rows=len(emails), single_s=single_s, single_worker_rss=await sampler)
        return result


async def report_progress(handle, started: float) -> None:
    """A line on stderr each minute, so an import of hours can be watched."""
    while True:
        await asyncio.sleep(60)
        try:
            p = await handle.query(LeadImportWorkflow.progress)
        except Exception as e:  # a query may time out while the worker is busy; the next one will do
            print(f"progress: no answer ({type(e).__name__})", file=sys.stderr, flush=True)
            continue
        elapsed = time.perf_counter() - started
        print(
            f"progress: {p.counts.captured} of {p.accepted} captured in {elapsed:.0f} s "
            f"({p.counts.captured / elapsed:.1f} rows/s)",
            file=sys.stderr,
            flush=True,
        )


def report(args, r: dict) -> list[str]:
    import_rate = r["import_rows"] / r["import_s"]
    single_rate = r["single_rows"] / r["single_s"]
    return [
        f"- machine: {lib.machine_line()}",
        f"- code: {lib.code_line()}",
        f"- command: `{lib.command_line()}`",
        f"- worker: {r['worker']}",
        f"- validation (`prepare_import`, this process): {r['rows']} rows ({r['accepted']} accepted, "
        f"{r['rejected']} rejected) in {r['validate_s']:.1f} s = {r['rows'] / r['validate_s']:,.0f} rows/s; "
        f"peak RSS {lib.mib(r['validate_rss'])} (before: {lib.mib(r['rss_before'])})",
        f"- staging (`ImportStore.stage`, one transaction): {r['accepted']} rows in {r['stage_s']:.1f} s = "
        f"{r['accepted'] / r['stage_s']:,.0f} rows/s; imports.db {lib.mib(r['store_bytes'])}",
        f"- `LeadImport` at --rate {args.rate:g}: {r['import_rows']} new leads on `{JOURNEY}` in "
        f"{r['import_s']:.1f} s = {import_rate:.1f} rows/s (start to result, incl. finish); "
        f"worker peak RSS {lib.mib(r['import_worker_rss'])}; cores used meanwhile: {lib.cpu_text(r['import_cores'])}",
        f"- baseline, `LeadService.capture` one after another: {r['single_rows']} new leads in {r['single_s']:.1f} s "
        f"= {single_rate:.1f} rows/s; worker peak RSS {lib.mib(r['single_worker_rss'])}",
        f"- import ÷ single captures: {import_rate / single_rate:.2f}"
        + (
            f"; the whole file imported ({r['import_rows']} of {r['accepted']} accepted rows captured)"
            if r["full"]
            else f"; all {r['rows']} rows at the import's rate would take "
            f"{r['accepted'] / import_rate / 3600:.1f} h (not run)"
        ),
        *([f"- note: {args.note}"] if args.note else []),
    ]


def main() -> int:
    p = lib.parser(__doc__ or "")
    p.add_argument("--rows", type=int, default=100_000, help="rows validated and staged (default 100,000)")
    p.add_argument("--capture-rows", type=int, default=500, help="new leads imported, and captured singly (500)")
    p.add_argument("--full", action="store_true", help="import the whole validated file, not a sample")
    p.add_argument("--baseline-rows", type=int, default=None, help="single captures (default: as many as imported)")
    p.add_argument("--rate", type=float, default=100.0, help="the import's rows per second (default 100, its most)")
    p.add_argument("--data-dir", type=Path, default=None, help="parent directory for the throwaway stack")
    p.add_argument("--no-results", action="store_true", help="print only; do not append to bench/RESULTS.md")
    p.add_argument("--note", default="", help="a sentence recorded with the results")
    p.add_argument(
        "--worker-set",
        action="append",
        metavar="KEY=JSON",
        help="experiment: override one option of the worker's tuning (bench/worker_proc.py --set; repeatable)",
    )
    args = p.parse_args()

    async def run() -> int:
        r = await measure(args)
        lib.append_results("list import of leads", report(args, r), write=not args.no_results)
        return 0

    return lib.run_main(run)


if __name__ == "__main__":
    sys.exit(main())
