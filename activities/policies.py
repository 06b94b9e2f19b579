"""Named retry policies and timeouts: every activity call picks one of these."""

from datetime import timedelta

from temporalio.common import RetryPolicy

from activities.contracts import ErrorType

# Platform calls: a platform that is down for hours delays a lead, it never loses
# one, so attempts are unlimited; backoff caps at two minutes. 4xx errors are raised
# non-retryable by activities/errors.py and stop at once.
PLATFORM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
)
PLATFORM_TIMEOUT = timedelta(seconds=30)

# Internal steps (loading a journey file, asking the owner router): fast, local.
INTERNAL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[ErrorType.JOURNEY_ERROR, ErrorType.NO_OWNER_AVAILABLE],
)
INTERNAL_TIMEOUT = timedelta(seconds=15)
