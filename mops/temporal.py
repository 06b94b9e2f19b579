"""The one place Temporal clients are built: same data converter and tracing everywhere.

Every client, worker, test environment and replayer must use the pydantic data
converter, or models and datetimes come back wrong; tracing is registered on the
client only (workers inherit it; registering it twice doubles every span).
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
from collections import OrderedDict

from temporalio.client import Client, Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, SerializationContext
from temporalio.runtime import Runtime

from mops.settings import Settings

# Serialization contexts whose bound converter is kept: a few per lead in flight (its
# workflows, each activity type they call). An evicted one is made again on its next use.
BOUND_CONVERTERS = 4096


@dataclasses.dataclass(frozen=True)
class ContextBoundConverter(DataConverter):
    """A `DataConverter` that binds itself to each serialization context once.

    The SDK asks for the converter of a context for every payload sequence of every task,
    and the base class answers with `dataclasses.replace`, which runs `__post_init__` again:
    a new pydantic payload converter and failure converter, replaced at once by the ones
    kept. In a worker's profile that was about 5% of its CPU per lead. A context is a frozen
    (hashable) dataclass and the binding depends on nothing else (the codec binds the lead
    named by its workflow id), so each context's converter is made once and kept, up to
    `BOUND_CONVERTERS` of them, the oldest dropped first."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "_bound", OrderedDict())

    def with_context(self, context: SerializationContext) -> ContextBoundConverter:
        bound: OrderedDict[SerializationContext, ContextBoundConverter] | None = self.__dict__["_bound"]
        if bound is None:  # itself a bound one: no cache of its own
            return super().with_context(context)
        found = bound.get(context)
        if found is None:
            found = super().with_context(context)
            if found is not self:
                object.__setattr__(found, "_bound", None)
            bound[context] = found
            while len(bound) > BOUND_CONVERTERS:
                try:
                    bound.popitem(last=False)
                except KeyError:  # emptied by another thread meanwhile
                    break
        return found


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The one data converter: pydantic models, payloads encrypted by `mops.codec`
    (AES-GCM, per-lead keys) and failure messages encoded. Every client, worker, test
    environment and replayer uses it. Keys are read on first use: from `settings`, or
    from the environment (`get_settings()`) when none are given."""
    from mops.codec import EncryptedFailureConverter, EncryptionCodec, KeyRing, shared_keyring
    from mops.settings import load_settings

    rings: list[KeyRing] = []  # resolved once, on first use (never through get_settings' cache: the CLI clears it)

    def keyring() -> KeyRing:
        if not rings:
            rings.append(shared_keyring(settings or load_settings()))
        return rings[0]

    return ContextBoundConverter(
        payload_converter_class=pydantic_data_converter.payload_converter_class,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=EncryptedFailureConverter,
    )


DATA_CONVERTER = data_converter()


def client_interceptors() -> list[Interceptor]:
    return [TracingInterceptor()]


_collect_at_exit: list[bool] = []


def _free_clients_before_finalization() -> None:
    """A temporalio Client sits in a reference cycle, so only the garbage collector frees it.
    Left to the interpreter's own last collection, its Rust connection is dropped while Python
    finalizes: the SDK's Tokio threads then reach for a GIL that no longer exists and the
    process aborts (`Fatal Python error: PyGILState_Release`) or segfaults after a script's
    work is done. Collected here (atexit runs before finalization), they are freed cleanly."""
    gc.collect()


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client with the project's data converter and tracing; `runtime` exports metrics
    (workers pass `mops.metrics.build_runtime(settings)`). Clients are freed at interpreter
    exit before finalization (see `_free_clients_before_finalization`)."""
    if not _collect_at_exit:
        atexit.register(_free_clients_before_finalization)
        _collect_at_exit.append(True)
    return await Client.connect(
        **settings.temporal_connect_config(),
        data_converter=data_converter(settings),
        interceptors=client_interceptors(),
        runtime=runtime,
    )
