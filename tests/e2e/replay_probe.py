"""Two versions of one small workflow for the `mops replay` test: as deployed, and edited
without a patch. In a module of their own: the workflow sandbox re-imports the module a
workflow is defined in, and this one imports nothing but the SDK."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow


@workflow.defn(name="ReplayProbe")
class ProbeAsDeployed:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(milliseconds=10))
        return "done"


@workflow.defn(name="ReplayProbe")
class ProbeAsChanged:
    """The same workflow edited without a patch: a second timer before the first."""

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(milliseconds=5))
        await workflow.sleep(timedelta(milliseconds=10))
        return "done"
