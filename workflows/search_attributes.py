"""Custom search attributes of mops workflows: the one list the server registers
(`mops up`, tests) and the workflows upsert."""

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

LEAD_STAGE = SearchAttributeKey.for_keyword("LeadStage")
LEAD_SCORE = SearchAttributeKey.for_int("LeadScore")
SEGMENT = SearchAttributeKey.for_keyword("Segment")
OWNER_ID = SearchAttributeKey.for_keyword("OwnerId")
JOURNEY_ID = SearchAttributeKey.for_keyword("JourneyId")
# The variants of a journey's splits a lead got, as `<split id>:<variant id>` (or `:holdout`).
JOURNEY_VARIANT = SearchAttributeKey.for_keyword_list("JourneyVariant")
# Where a lead is: the journey version it pinned and the position (1-based) of the step it is
# at in that version's `steps`. Integers because SQL visibility (the dev server `mops up` runs,
# and a self-hosted PostgreSQL) allows 10 Keyword and 3 KeywordList attributes, all taken; a
# published version is immutable, so a position names one step for good.
# `JourneySpec.position` / `step_at` translate.
JOURNEY_VERSION = SearchAttributeKey.for_int("JourneyVersion")
JOURNEY_STEP = SearchAttributeKey.for_int("JourneyStep")

ALL: list[SearchAttributeKey[Any]] = [
    LEAD_STAGE,
    LEAD_SCORE,
    SEGMENT,
    OWNER_ID,
    JOURNEY_ID,
    JOURNEY_VARIANT,
    JOURNEY_VERSION,
    JOURNEY_STEP,
]

CONTENT_STAGE = SearchAttributeKey.for_keyword("ContentStage")
CONTENT_TYPE = SearchAttributeKey.for_keyword("ContentType")
APPROVAL_STATE = SearchAttributeKey.for_keyword("ApprovalState")
PENDING_APPROVERS = SearchAttributeKey.for_keyword_list("PendingApprovers")

ALL += [CONTENT_STAGE, CONTENT_TYPE, APPROVAL_STATE, PENDING_APPROVERS]

CAMPAIGN_ID = SearchAttributeKey.for_keyword("CampaignId")
CAMPAIGN_STATUS = SearchAttributeKey.for_keyword("CampaignStatus")
CHANNELS = SearchAttributeKey.for_keyword_list("Channels")
BUDGET_STATE = SearchAttributeKey.for_keyword("BudgetState")

ALL += [CAMPAIGN_ID, CAMPAIGN_STATUS, CHANNELS, BUDGET_STATE]

# What a workflow upserts: updates of keys of different value types, in one list.
Updates = list[SearchAttributeUpdate[Any]]
