"""Testing kit: run one component alone with the stage contract enforced, and fakes for chaos.

``run_component`` is what a component author's unit test calls::

    from pipeline.testing import run_component

    async def test_age_filter_drops_old_posts():
        result = await run_component(AgeFilter(max_age_s=60), query, candidates)
        assert [c.id for c in result.removed] == [old.id]

It applies the same checks as the executor (length, types, declared writes) but raises
:class:`~pipeline.errors.ContractViolation` instead of degrading, so a broken component fails
its test loudly. It also catches what the executor cannot afford to check on every request:
a hydrator or scorer that mutates its input candidates in place.
"""

from pipeline.testing.faults import FaultParams, InjectedFault
from pipeline.testing.isolation import run_component

__all__ = ["FaultParams", "InjectedFault", "run_component"]
