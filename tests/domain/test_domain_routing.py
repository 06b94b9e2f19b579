from collections import Counter

import pytest

from domain.routing import NoOwnerAvailable, OwnerSlot, RoundRobinState, pick_owner

WEIGHTS = {"101": 3, "102": 2, "103": 1, "104": 1}


def slots(weights=WEIGHTS, unavailable=()):
    return [OwnerSlot(owner_id=o, weight=w, available=o not in unavailable) for o, w in weights.items()]


def picks(n, owners, state=None, exclude=frozenset()):
    state, out = state or RoundRobinState(), []
    for _ in range(n):
        owner, state = pick_owner(state, owners, exclude)
        out.append(owner)
    return out, state


def test_weights_give_exact_counts_and_smooth_interleaving():
    seq, state = picks(7, slots())
    assert Counter(seq) == {"101": 3, "102": 2, "103": 1, "104": 1}
    assert seq == ["101", "102", "103", "101", "104", "102", "101"]
    assert all(a != b for a, b in zip(seq, seq[1:], strict=False))  # smooth: no owner twice in a row here
    assert state.current == {"101": 0, "102": 0, "103": 0, "104": 0}  # a full cycle returns to zero
    assert picks(14, slots())[0] == seq * 2


def test_three_to_one_interleaves():
    seq, _ = picks(4, [OwnerSlot(owner_id="a", weight=3), OwnerSlot(owner_id="b")])
    assert seq == ["a", "a", "b", "a"]


def test_input_state_is_not_mutated():
    state = RoundRobinState(current={"101": 1, "102": -1})
    before = state.model_copy(deep=True)
    _, new_state = pick_owner(state, slots())
    assert state == before
    assert new_state is not state and new_state.current != state.current


def test_excluded_and_unavailable_owners_are_skipped():
    seq, state = picks(6, slots(unavailable={"102"}), exclude=frozenset({"101"}))
    assert set(seq) == {"103", "104"}
    assert seq == ["103", "104"] * 3
    assert state.current["101"] == 0 and state.current["102"] == 0  # kept, untouched


def test_removed_owner_is_dropped_from_state():
    _, state = picks(3, slots())
    remaining = {o: w for o, w in WEIGHTS.items() if o != "103"}
    _, state = pick_owner(state, slots(remaining))
    assert "103" not in state.current
    assert set(state.current) == {"101", "102", "104"}


def test_no_owner_available():
    with pytest.raises(NoOwnerAvailable):
        pick_owner(RoundRobinState(), slots(unavailable=set(WEIGHTS)))
    with pytest.raises(NoOwnerAvailable):
        pick_owner(RoundRobinState(), slots(), exclude=set(WEIGHTS))
    with pytest.raises(NoOwnerAvailable):
        pick_owner(RoundRobinState(), [])


def test_ties_break_by_owner_id():
    owners = [OwnerSlot(owner_id="b"), OwnerSlot(owner_id="a"), OwnerSlot(owner_id="c")]
    assert picks(3, owners)[0] == ["a", "b", "c"]
