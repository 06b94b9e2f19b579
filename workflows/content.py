"""One content item from brief to published, approved by people, tracked after.

Workflow type `Content`, id `content-<content id>`.

Stages: drafting → checking → (changes_requested ↔ checking) → in_review (one
approval stage after another: e.g. brand, then legal) → approved → scheduled? →
published / partially_published → completed after performance tracking; or
rejected, expired, retracted. The email list send goes only to the members whose
contact budget allows a message now; who was left out and why is in the email channel's
`audience` and the timeline.

Updates (validators refuse without writing history; the caller gets the reason and its
`Refusal` code, domain/refusals.py)
- `decide(Decision) -> DecisionResult`: approve / reject / request changes, through the
  approval gate campaign launches and budget proposals share (workflows/approval.py).
  Refused for: the author, someone not an approver of the current stage (backups only
  once the stage is escalated), a stale revision, a second decision by the same person
  (by the validator); and, by the handler, which records it in `refused_decisions`, a
  decision without valid proof of who made it (`ContentInput.decision_keys`).
- `revise(Revision) -> RevisionResult`: the author's new revision after changes were
  requested or a check blocked; the checks run again and review restarts.
- `retract(RetractRequest) -> None`: unpublish everywhere (idempotent compensation).

Queries
- `state() -> ContentView`: stage, findings, each decision with time, comment and proof,
  the decisions refused for want of proof, per-channel outcome and links, performance
  snapshots.

Search attributes: ContentStage, ContentType, ApprovalState, PendingApprovers.
Durable timers: reminders, escalation to backups and expiry per approval stage;
scheduled publication; performance checks at 1, 7 and 30 days.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.contracts import ActivityRef, ErrorType
    from activities.models import (
        BrandCheckInput,
        CancelListSendInput,
        CreateDraftInput,
        ListSendEmail,
        ListSendInput,
        NotifyInput,
        PageMetricsInput,
        PostRef,
        PublishPostInput,
        SocialDeleteInput,
        SocialPostInput,
        UpdateDraftInput,
    )
    from domain.approvals import Decision, DecisionResult, StageOutcome
    from domain.brand import Severity
    from domain.contact_budget import SendSource
    from domain.content import ApprovalStage, Channel, markdown_to_html
    from domain.refusals import Refusal
    from workflows.approval import ApprovalGate, refuse
    from workflows.common import (
        EMAIL_SUPPRESSION_GROUP,
        In,
        Out,
        SearchAttributes,
        WaitResult,
        call,
        call_parked,
        continue_as_new_due,
        is_type,
        reason,
        wait_until,
        with_note,
    )
    from workflows.content_models import (
        TERMINAL_CONTENT,
        ChannelOutcome,
        ChannelStatus,
        ContentInput,
        ContentStage,
        ContentState,
        ContentView,
        PerformanceSnapshot,
        RetractRequest,
        Revision,
        RevisionResult,
    )
    from workflows.content_review import ReviewProgress, ReviewWording
    from workflows.search_attributes import APPROVAL_STATE, CONTENT_STAGE, CONTENT_TYPE, PENDING_APPROVERS, Updates

TRACKING_DAYS = (1, 7, 30)
CONTENT_EMAIL_TEMPLATE = "content-email"  # in the list-email templates (campaigns/templates/)
RETRACTABLE = {ContentStage.SCHEDULED, ContentStage.PUBLISHED, ContentStage.PARTIALLY_PUBLISHED}


@workflow.defn(name="Content")
class ContentWorkflow:
    @workflow.init
    def __init__(self, inp: ContentInput) -> None:
        self._s = inp.state or ContentState(
            brief=inp.brief,
            stages=inp.stages,
            channels=[ChannelOutcome(channel=c) for c in inp.brief.channels],
        )
        self._inp = inp
        self._directory = inp.directory
        self._q = inp.queues
        self._attributes = SearchAttributes()
        self._review_progress = ReviewProgress(self._s)
        self._gate = ApprovalGate(
            self._review_progress,
            inp.directory,
            requester=self._s.brief.author,
            requester_is_author=True,
            messages=ReviewWording(self._s),
            tell=self._tell,
            note=self._note,
            publish=self._publish,
            history_limit=inp.continue_as_new_after_events,
            keys=inp.decision_keys,
            wait=self._wait,
        )

    @workflow.run
    async def run(self, inp: ContentInput) -> ContentView:
        s = self._s
        self._publish()
        while s.stage not in TERMINAL_CONTENT:
            if continue_as_new_due(inp.continue_as_new_after_events):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(inp.model_copy(update={"state": s}))
            if s.retract is not None:
                await self._retract()
            elif s.stage == ContentStage.DRAFTING:
                await self._draft()
            elif s.stage == ContentStage.CHECKING:
                await self._check()
            elif s.stage == ContentStage.CHANGES_REQUESTED:
                await self._await_revision()
            elif s.stage == ContentStage.IN_REVIEW:
                await self._review()
            elif s.stage in (ContentStage.APPROVED, ContentStage.SCHEDULED, ContentStage.PUBLISHING):
                await self._distribute()
            else:  # published or partially published: performance tracking
                await self._track()
        return self.state()

    # ------------------------------------------------------------- handlers

    @workflow.update(name="decide")
    def decide(self, d: Decision) -> DecisionResult:
        return self._gate.record(d)

    @decide.validator
    def _validate_decide(self, d: Decision) -> None:
        s = self._s
        if s.stage != ContentStage.IN_REVIEW or self._current_stage() is None:
            refuse(Refusal.NOT_WAITING_FOR_DECISIONS, f"not waiting for decisions (stage {s.stage.value})")
        self._gate.validate(d)

    @workflow.update(name="revise")
    def revise(self, r: Revision) -> RevisionResult:
        self._s.pending_revision = r
        return RevisionResult(revision=self._s.revision + 1)

    @revise.validator
    def _validate_revise(self, r: Revision) -> None:
        s = self._s
        if r.author != s.brief.author:
            refuse(Refusal.NOT_THE_AUTHOR, f"only the author ({s.brief.author}) can revise")
        if s.stage != ContentStage.CHANGES_REQUESTED or s.pending_revision is not None:
            refuse(Refusal.NO_REVISION_EXPECTED, f"no revision expected (stage {s.stage.value})")
        if r.body is None and r.title is None and r.variables is None:
            refuse(Refusal.INVALID_REVISION, "give a new body, title or template variables")

    @workflow.update(name="retract")
    def retract(self, r: RetractRequest) -> None:
        self._s.retract = r
        self._note(f"retract requested by {r.requested_by}: {r.reason}")

    @retract.validator
    def _validate_retract(self, r: RetractRequest) -> None:
        s = self._s
        if s.stage not in RETRACTABLE or s.retract is not None:
            refuse(Refusal.NOTHING_TO_RETRACT, f"nothing to retract (stage {s.stage.value})")
        allowed = {s.brief.author} | {a for st in s.stages for a in st.approvers}
        if r.requested_by not in allowed:
            refuse(Refusal.MAY_NOT_RETRACT, f"'{r.requested_by}' may not retract this item (author or approvers only)")

    @workflow.query(name="state")
    def state(self) -> ContentView:
        s, stage = self._s, self._current_stage()
        return ContentView(
            content_id=s.brief.content_id,
            title=s.brief.title,
            type=s.brief.type.value,
            stage=s.stage,
            revision=s.revision,
            author=s.brief.author,
            draft_link=s.draft_link,
            findings=s.findings,
            needs_legal=s.needs_legal,
            current_review=stage.name if stage and s.stage == ContentStage.IN_REVIEW else None,
            pending_approvers=self._pending(),
            stages=s.stages,
            decisions=s.decisions,
            refused_decisions=s.refused_decisions,
            channels=s.channels,
            performance=s.performance,
            outcome=s.outcome,
            timeline=s.timeline,
        )

    # --------------------------------------------------------------- stages

    async def _draft(self) -> None:
        s = self._s
        draft = await self._platform(
            act.CMS_CREATE_DRAFT,
            CreateDraftInput(
                idempotency_key=f"{self._id}:draft", title=s.brief.title, html=self._html(), slug=s.brief.content_id
            ),
            queue=self._q.cms,
            summary="create draft in CMS",
        )
        s.post_id, s.draft_link = draft.post_id, draft.link
        await self._set_stage(ContentStage.CHECKING)

    async def _check(self) -> None:
        s = self._s
        b = s.brief
        result = await call(
            act.CHECKS_BRAND,
            BrandCheckInput(
                title=b.title, body_markdown=b.rendered_body(), type=b.type, region=b.region, channels=b.channels
            ),
            queue=self._q.checks,
            summary=f"brand & compliance check (revision {s.revision})",
        )
        s.findings, s.reading_grade, s.needs_legal = result.findings, result.reading_grade, result.needs_legal
        blocking = [f for f in result.findings if f.severity == Severity.BLOCKING]
        self._note(
            f"checks on revision {s.revision}: {len(blocking)} blocking, "
            f"{len(result.findings) - len(blocking)} warnings"
        )
        if blocking:
            await self._set_stage(ContentStage.CHANGES_REQUESTED)
            await self._tell_author(
                "checks-blocked",
                f"'{b.title}' (revision {s.revision}) has {len(blocking)} blocking finding(s): "
                + "; ".join(f.message for f in blocking[:5])
                + ". Revise with `mops content revise`.",
            )
            return
        if s.needs_legal and not any(st.name == "legal" for st in s.stages):
            s.stages = [*s.stages, self._inp.legal_stage]
            self._note("claims found: legal review added")
        self._review_progress.restart()
        await self._set_stage(ContentStage.IN_REVIEW)

    async def _await_revision(self) -> None:
        s = self._s
        result = await self._wait(
            None, lambda: s.pending_revision is not None or s.retract is not None, "waiting for the author's revision"
        )
        if result != "done" or s.pending_revision is None:
            return
        r, s.pending_revision = s.pending_revision, None
        update: dict[str, object] = {}
        if r.title is not None:
            update["title"] = r.title
        if r.body is not None:
            update.update(body=r.body, template=None, variables={})
        elif r.variables is not None:
            update["variables"] = {**s.brief.variables, **r.variables}
        s.brief = s.brief.model_copy(update=update)
        s.revision += 1
        self._note(f"revision {s.revision} from {r.author}" + (f": {r.note}" if r.note else ""))
        if s.post_id is not None:
            await self._platform(
                act.CMS_UPDATE_DRAFT,
                UpdateDraftInput(post_id=s.post_id, title=s.brief.title, html=self._html()),
                queue=self._q.cms,
                summary=f"update draft to revision {s.revision}",
            )
        await self._set_stage(ContentStage.CHECKING)

    async def _review(self) -> None:
        """The approval stages, through the gate campaigns and budget proposals use too."""
        s = self._s
        outcome = await self._gate.run()
        if outcome == "continue_as_new":
            return
        if outcome == "approved":
            await self._set_stage(ContentStage.APPROVED)
            return
        if outcome == "expired":
            stage = s.stages[s.review_index]
            s.outcome = f"expired in {stage.name} without a decision"
            await self._set_stage(ContentStage.EXPIRED)
            await self._tell_author("expired", f"'{s.brief.title}' expired in {stage.name} without a decision.")
            return
        ended = self._gate.ended_in()
        assert ended is not None, "the gate ended rejected, so it names the stage that ended it"
        stage, how = ended
        comments = self._gate.comments(stage)
        if how == StageOutcome.REJECTED:
            s.outcome = f"rejected in {stage.name}: {comments}"
            await self._set_stage(ContentStage.REJECTED)
            await self._tell_author("rejected", f"'{s.brief.title}' was rejected in {stage.name}: {comments}")
            return
        await self._set_stage(ContentStage.CHANGES_REQUESTED)
        await self._tell_author(
            "changes",
            f"Changes requested on '{s.brief.title}' in {stage.name}: {comments}. Revise with `mops content revise`.",
        )

    async def _distribute(self) -> None:
        s = self._s
        publish_at = s.brief.publish_at
        cms = self._channel(Channel.CMS)
        if s.post_id is not None and (cms is None or cms.status == ChannelStatus.PENDING):
            # The CMS post is published (or scheduled with WordPress's own `future`
            # status) even when the brief has no CMS channel: other channels link to it.
            future = publish_at if publish_at and publish_at > workflow.now() else None
            res = await self._publish_channel(
                Channel.CMS,
                act.CMS_PUBLISH,
                PublishPostInput(post_id=s.post_id, publish_at=future),
                self._q.cms,
                "publish in CMS" if future is None else f"schedule in CMS for {future.isoformat()}",
            )
            if res is not None:
                s.draft_link = res.link
                if cms is not None:
                    cms.status, cms.ref, cms.link = (
                        ChannelStatus.SCHEDULED if future else ChannelStatus.PUBLISHED,
                        str(s.post_id),
                        res.link,
                    )
        if publish_at and publish_at > workflow.now():
            await self._set_stage(ContentStage.SCHEDULED)
            result = await self._wait(publish_at, lambda: s.retract is not None, "scheduled publication")
            if result != "timeout":
                return
            if cms is not None and cms.status == ChannelStatus.SCHEDULED:
                cms.status = ChannelStatus.PUBLISHED
        await self._set_stage(ContentStage.PUBLISHING)
        linkedin = self._channel(Channel.LINKEDIN)
        if linkedin is not None and linkedin.status == ChannelStatus.PENDING:
            posted = await self._publish_channel(
                Channel.LINKEDIN,
                act.SOCIAL_POST,
                SocialPostInput(
                    idempotency_key=f"{self._id}:r{s.revision}:linkedin",
                    commentary=f"{s.brief.title}\n\n{s.draft_link or ''}".strip(),
                ),
                self._q.social,
                "post on LinkedIn",
            )
            if posted is not None:
                linkedin.status, linkedin.ref = ChannelStatus.PUBLISHED, posted.urn
        email = self._channel(Channel.EMAIL)
        if email is not None and email.status == ChannelStatus.PENDING:
            sent = await self._publish_channel(
                Channel.EMAIL,
                act.EMAIL_SEND_TO_LISTS,
                ListSendInput(
                    idempotency_key=f"{self._id}:r{s.revision}:email",
                    name=s.brief.title,
                    subject=s.brief.title,
                    html=self._html(),
                    list_ids=s.brief.email_list_ids,
                    suppression_group_id=EMAIL_SUPPRESSION_GROUP,
                    source=SendSource.CONTENT,
                    email=ListSendEmail(
                        template=CONTENT_EMAIL_TEMPLATE,
                        campaign_id=s.brief.content_id,
                        campaign_name=s.brief.title,
                        body_markdown=s.brief.rendered_body(),
                        landing_url=s.draft_link,
                    ),
                ),
                self._q.email,
                "send to email lists",
            )
            if sent is not None:
                email.status, email.ref = ChannelStatus.PUBLISHED, sent.single_send_id
                email.audience = sent.audience
                if sent.audience is not None:
                    self._note(f"email: {sent.audience.describe()}")
        s.published_at = workflow.now()
        failed = [c for c in s.channels if c.status == ChannelStatus.FAILED]
        if failed:
            s.outcome = "partially published: " + ", ".join(f"{c.channel.value} failed ({c.error})" for c in failed)
            await self._set_stage(ContentStage.PARTIALLY_PUBLISHED)
            await self._tell_author("partial", f"'{s.brief.title}': {s.outcome}. Retract with `mops content retract`.")
        else:
            s.outcome = "published"
            await self._set_stage(ContentStage.PUBLISHED)

    async def _publish_channel(
        self, channel: Channel, ref: ActivityRef[In, Out], arg: In, queue: str, summary: str
    ) -> Out | None:
        """One channel's publication; a rejection is recorded, not raised, so the
        other channels are still attempted and the outcome says what happened."""
        try:
            return await call(ref, arg, queue=queue, summary=summary)
        except ActivityError as err:
            # A rejection, or an email that cannot go out as it is (its template), fails the channel.
            if not (is_type(err, ErrorType.PLATFORM_REJECTED) or is_type(err, ErrorType.EMAIL_UNSENDABLE)):
                raise
            outcome = self._channel(channel)
            if outcome is not None:
                outcome.status, outcome.error = ChannelStatus.FAILED, reason(err)
            self._note(f"{channel.value}: publication rejected ({reason(err)})")
            return None

    async def _track(self) -> None:
        s = self._s
        published = s.published_at
        assert published is not None, "tracking starts once the item is published"
        for day in TRACKING_DAYS:
            if any(p.day == day for p in s.performance):
                continue
            due = published + timedelta(days=day)
            result = await self._wait(due, lambda: s.retract is not None, f"performance check day {day}")
            if result != "timeout":
                return
            path = urlsplit(s.draft_link or "").path or "/"
            m = await self._platform(
                act.ANALYTICS_PAGE_METRICS,
                PageMetricsInput(page_path=path, start_date=published.date(), end_date=due.date()),
                queue=self._q.analytics,
                summary=f"performance after {day} day(s)",
            )
            s.performance.append(
                PerformanceSnapshot(
                    day=day, at=workflow.now(), views=m.views, sessions=m.sessions, conversions=m.conversions
                )
            )
            self._note(f"day {day}: {m.views:.0f} views, {m.conversions:.0f} conversions")
        await self._set_stage(ContentStage.COMPLETED)

    async def _retract(self) -> None:
        """Compensation: undo every channel that went out (each call is idempotent)."""
        s = self._s
        for c in s.channels:
            if c.status not in (ChannelStatus.PUBLISHED, ChannelStatus.SCHEDULED) or not c.ref:
                continue
            summary = f"retract {c.channel.value}"
            if c.channel == Channel.EMAIL:
                cancelled = await self._platform(
                    act.EMAIL_CANCEL_LIST_SEND,
                    CancelListSendInput(single_send_id=c.ref),
                    queue=self._q.email,
                    summary=summary,
                )
                if not cancelled.recalled:
                    # Said plainly rather than marked retracted: the mail is out.
                    c.note = "already delivered; an email cannot be recalled"
                    self._note(f"{c.channel.value}: already delivered, cannot be recalled")
                    continue
            elif c.channel == Channel.LINKEDIN:
                await self._platform(
                    act.SOCIAL_DELETE, SocialDeleteInput(urn=c.ref), queue=self._q.social, summary=summary
                )
            else:
                await self._platform(act.CMS_UNPUBLISH, PostRef(post_id=s.post_id), queue=self._q.cms, summary=summary)
            c.status = ChannelStatus.RETRACTED
        if s.post_id is not None and self._channel(Channel.CMS) is None:
            await self._platform(
                act.CMS_UNPUBLISH, PostRef(post_id=s.post_id), queue=self._q.cms, summary="retract CMS post"
            )
        retract = s.retract
        assert retract is not None, "retracting answers a retract request"
        s.outcome = f"retracted by {retract.requested_by}: {retract.reason}"
        await self._set_stage(ContentStage.RETRACTED)

    # --------------------------------------------------------------- helpers

    @property
    def _id(self) -> str:
        return workflow.info().workflow_id

    def _html(self) -> str:
        return markdown_to_html(self._s.brief.rendered_body())

    def _channel(self, channel: Channel) -> ChannelOutcome | None:
        return next((c for c in self._s.channels if c.channel == channel), None)

    def _current_stage(self) -> ApprovalStage | None:
        s = self._s
        return s.stages[s.review_index] if s.review_index < len(s.stages) else None

    def _pending(self) -> list[str]:
        s, stage = self._s, self._current_stage()
        if s.stage != ContentStage.IN_REVIEW or stage is None:
            return []
        return self._gate.pending(unstarted=True)

    async def _platform(self, ref: ActivityRef[In, Out], arg: In, *, queue: str, summary: str) -> Out:
        return await call_parked(ref, arg, queue=queue, summary=summary, note=self._note)

    async def _wait(self, until: datetime | None, done: Callable[[], bool], summary: str) -> WaitResult:
        self._publish()
        return await wait_until(until, done, summary, self._inp.continue_as_new_after_events)

    async def _tell(self, people: list[str], kind: str, text: str) -> None:
        """Chat to people from the directory (by work email); undeliverable → noted."""
        for person_id in people:
            person = self._directory.get(person_id)
            if person is None:
                continue
            inp = NotifyInput(
                idempotency_key=f"{self._id}:r{self._s.revision}:{kind}:{person_id}", text=text, user_email=person.email
            )
            try:
                await call(act.CHAT_NOTIFY, inp, queue=self._q.chat, summary=f"tell {person_id}: {kind}")
            except ActivityError as err:
                if not is_type(err, ErrorType.PLATFORM_REJECTED):
                    raise
                self._note(f"chat to {person_id} failed ({reason(err)})")

    async def _tell_author(self, kind: str, text: str) -> None:
        await self._tell([self._s.brief.author], kind, text)

    def _note(self, what: str) -> None:
        s = self._s
        s.timeline = with_note(s.timeline, what)

    async def _set_stage(self, stage: ContentStage) -> None:
        if self._s.stage != stage:
            self._s.stage = stage
            self._note(f"stage → {stage.value}")
        self._publish()

    def _approval_state(self) -> str:
        """`<stage>:pending|escalated` while in review, else where approval ended up."""
        s, stage = self._s, self._current_stage()
        if s.stage == ContentStage.IN_REVIEW and stage is not None:
            return f"{stage.name}:{'escalated' if s.escalated else 'pending'}"
        if s.stage in (ContentStage.REJECTED, ContentStage.EXPIRED):
            return s.stage.value
        if s.stage in (ContentStage.DRAFTING, ContentStage.CHECKING, ContentStage.CHANGES_REQUESTED):
            return "not_started" if s.review_index == 0 else "changes_requested"
        return "approved"

    def _publish(self) -> None:
        """Search attributes (only when changed) and current details for the Web UI."""
        s = self._s
        approval = self._approval_state()
        pending = self._pending()
        updates: Updates = [
            CONTENT_STAGE.value_set(s.stage.value),
            CONTENT_TYPE.value_set(s.brief.type.value),
            APPROVAL_STATE.value_set(approval),
            PENDING_APPROVERS.value_set(pending),
        ]
        self._attributes.upsert(updates)
        lines = [f"**Stage:** {s.stage.value}  ·  **Revision:** {s.revision}  ·  **Approval:** {approval}"]
        if pending:
            lines.append(f"**Waiting for:** {', '.join(pending)}")
        blocking = sum(1 for f in s.findings if f.severity == Severity.BLOCKING)
        lines.append(
            f"**Findings:** {blocking} blocking, {len(s.findings) - blocking} warnings"
            + ("  ·  legal review" if s.needs_legal else "")
        )
        lines.append("**Channels:** " + ", ".join(f"{c.channel.value} {c.status.value}" for c in s.channels))
        if s.draft_link:
            lines.append(f"**Link:** {s.draft_link}")
        workflow.set_current_details("\n\n".join(lines))
