"""A list send within every recipient's contact budget, against the same send with no budget.

--recipients contacts (default 10,000) on one SendGrid list in the sandbox (bench/sandbox_proc.py,
its own process); a contact ledger where some of them are capped (a recent send and a cap
of one), some in quiet hours, some unsubscribed, the rest free. Timed, in the same run:

- `mops`: the `email.send_to_lists` activity as the worker runs it (`EmailActivities.send_to_lists`
  under temporalio's ActivityEnvironment): export the list's members, check each one's budget
  in the ledger, upsert the allowed ones onto a per-send list (an import job), create and
  schedule the Single Send; done when SendGrid has taken it.
- `baseline`: one Single Send to the whole list, created and scheduled (what the activity did
  before the contact budget).

The sandbox delivers each triggered send to its recipients inside the schedule call, in both.
Target: the `mops` send prepared and handed over in < 60 s for 10,000 recipients.

    .venv/bin/python bench/bulk_send.py                      # 10,000 recipients, 3 rounds
    .venv/bin/python bench/bulk_send.py --recipients 1000 --rounds 1 --no-results
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lib  # noqa: E402
from temporalio.testing import ActivityEnvironment  # noqa: E402

from activities.email import EmailActivities  # noqa: E402
from activities.email_once import EmailOnce  # noqa: E402
from activities.models import ListSendInput  # noqa: E402
from domain.contact_budget import BudgetFacts, SendSource, SkipReason  # noqa: E402
from domain.leads import lead_key  # noqa: E402
from domain.schedule import FrequencyCap, QuietHours  # noqa: E402
from integrations.sendgrid import SendGridClient  # noqa: E402
from mops.contact_ledger import LedgerSend, SqliteContactLedger  # noqa: E402
from sandbox.settings import SandboxTokens  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-lead-id-secret"
WEEK_CAP = FrequencyCap(max_emails=1, per=timedelta(days=7))


def quiet_now(now: datetime) -> QuietHours:
    """Quiet hours in UTC around `now`: an hour before to three hours after."""
    return QuietHours(
        start=(now - timedelta(hours=1)).time().replace(second=0, microsecond=0),
        end=(now + timedelta(hours=3)).time().replace(second=0, microsecond=0),
    )


def seed_ledger(ledger: SqliteContactLedger, emails: list[str], now: datetime) -> dict[str, int]:
    """Every 10th capped, every 20th (offset) in quiet hours, every 25th (offset) unsubscribed."""
    kinds = {"capped": 0, "quiet": 0, "unsubscribed": 0, "free": 0}
    sends = []
    for i, email in enumerate(emails):
        lead_id = lead_key(email, SECRET)
        if i % 10 == 0:
            ledger.set_facts(lead_id, BudgetFacts(frequency_cap=WEEK_CAP))
            sends.append(LedgerSend(lead_id, now - timedelta(days=1), SendSource.JOURNEY, f"{lead_id}:welcome"))
            kinds["capped"] += 1
        elif i % 20 == 1:
            ledger.set_facts(lead_id, BudgetFacts(quiet_hours=quiet_now(now), frequency_cap=WEEK_CAP))
            kinds["quiet"] += 1
        elif i % 25 == 2:
            ledger.set_facts(lead_id, BudgetFacts(may_email=False, why_not=SkipReason.UNSUBSCRIBED))
            kinds["unsubscribed"] += 1
        else:
            if i % 2:  # half of the free ones have a journey (facts, no recent send), half none
                ledger.set_facts(lead_id, BudgetFacts(frequency_cap=WEEK_CAP))
            kinds["free"] += 1
    ledger.record_sends(sends)
    return kinds


def send_input(list_id: str, tag: str) -> ListSendInput:
    return ListSendInput(
        idempotency_key=f"bench-{tag}-{uuid.uuid4().hex}",
        name=f"bench {tag}",
        subject="Spring",
        html='<p>Spring is here.</p><a href="{{{unsubscribe}}}">unsubscribe</a>',
        list_ids=[list_id],
        suppression_group_id=4242,
    )


async def measure(args) -> dict:
    port = lib.free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "sandbox_proc.py"), "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        await lib.wait_http(f"{url}/_sandbox/health", proc, "sandbox")
        tokens = SandboxTokens()
        sendgrid = SendGridClient(url, tokens.sendgrid_api_key.get_secret_value(), timeout=120)
        emails = [f"bench-{i}@readers.example" for i in range(args.recipients)]
        list_id = await sendgrid.create_list(f"bench {uuid.uuid4().hex[:8]}")
        await sendgrid.add_to_list(list_id, emails)
        mops_s, base_s, audience = [], [], None
        for n in range(args.rounds):
            # A fresh ledger per round: every round meets the same budgets (not the last round's sends).
            ledger_dir = tempfile.TemporaryDirectory(prefix="mops-bench-ledger-")
            ledger = SqliteContactLedger(Path(ledger_dir.name) / "contacts.db")
            kinds = seed_ledger(ledger, emails, datetime.now(UTC))
            activities = EmailActivities(
                sendgrid,
                ROOT / "journeys" / "templates",
                unsubscribe_link=lambda lead_id: f"https://gw.example/u/{lead_id}",
                postal_address="mops bench, 1 Bench Street, Berlin",
                preferences_url="https://www.mops.example/email-preferences",
                campaign_templates_dir=ROOT / "campaigns" / "templates",
                ledger=ledger,
                lead_id_secret=SECRET,
                once=EmailOnce(sendgrid, settle=timedelta(minutes=10)),
            )
            started = time.perf_counter()
            result = await ActivityEnvironment().run(activities.send_to_lists, send_input(list_id, f"mops{n}"))
            mops_s.append(time.perf_counter() - started)
            audience = result.audience
            inp = send_input(list_id, f"base{n}")
            started = time.perf_counter()
            await sendgrid.create_single_send(
                name=inp.name,
                subject=inp.subject,
                html=inp.html,
                list_ids=inp.list_ids,
                sender_id=1,
                suppression_group_id=inp.suppression_group_id,
            )
            base_s.append(time.perf_counter() - started)
            ledger.close()
            ledger_dir.cleanup()
            print(f"  round {n + 1}: mops {mops_s[-1]:.2f} s, baseline {base_s[-1]:.2f} s", file=sys.stderr, flush=True)
        await sendgrid.aclose()
        return {"mops": mops_s, "baseline": base_s, "audience": audience, "kinds": kinds}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def report(args, r: dict) -> list[str]:
    mops, base = min(r["mops"]), min(r["baseline"])
    audience = r["audience"]
    lines = [
        f"- machine: {lib.machine_line()}",
        f"- code: {lib.code_line()}",
        f"- command: `{lib.command_line()}`",
        f"- recipients: {args.recipients} ({', '.join(f'{k} {v}' for k, v in r['kinds'].items())}); "
        f"rounds: {args.rounds} (best of)",
        f"- `mops` (budgeted list send): {mops:.2f} s ({', '.join(f'{s:.2f}' for s in r['mops'])}); "
        f"{audience.describe() if audience else 'no audience'}",
        f"- `baseline` (one single send to the whole list): {base:.2f} s "
        f"({', '.join(f'{s:.2f}' for s in r['baseline'])})",
        f"- ratio mops/baseline: {mops / base:.1f}x; target < 60 s for 10,000: "
        f"{'met' if mops < 60 or args.recipients != 10_000 else 'NOT met'}",
    ]
    return lines


def main() -> int:
    p = lib.parser(__doc__)
    p.add_argument("--recipients", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-results", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = p.parse_args()

    async def run() -> int:
        results = await measure(args)
        lib.append_results("bulk list send within the contact budget", report(args, results), write=not args.no_results)
        return 0

    return lib.run_main(run)


if __name__ == "__main__":
    sys.exit(main())
