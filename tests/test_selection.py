"""D-3 and D-4 as pure functions (source Table 3 plus the rules' decisions (docs/rules.md))."""

import pytest

from models.rules.refusals import Refused
from models.rules.selection import PAGE_SIZE, Candidate, choose, next_page, page, page_count, pick


def devices(*states: str) -> list[Candidate]:
    return [Candidate(f"SEP00000000000{i}", "Cisco 8841", f"desk {i}", s == "R") for i, s in enumerate(states, 1)]


@pytest.mark.parametrize(
    "scenario,states,chosen",
    [
        ("1", "RU", 2),
        ("2", "RRU", 3),
        ("3", "RUU", None),
        ("4", "UUU", None),
        ("5", "RRR", None),
        ("6a", "RRRU", None),
        ("6b", "UUUU", None),
        ("one unregistered", "U", 1),
    ],
)
def test_d3_table3_scenarios(scenario, states, chosen):
    selection = choose(devices(*states))
    if chosen is None:
        assert selection.chosen is None and len(selection.choices) == len(states)
    else:
        assert selection.chosen.name == f"SEP00000000000{chosen}" and selection.choices == ()


def test_d3_lone_registered_candidate_refused():
    with pytest.raises(Refused) as exc:
        choose(devices("R"))
    assert exc.value.code == "old_phone_registered" and "Unplug it" in exc.value.message


def test_d3_no_candidate_refused():
    with pytest.raises(Refused) as exc:
        choose([])
    assert exc.value.code == "no_old_phone"


def test_d4_pages_of_nine():
    many = [Candidate(f"SEP{i:012X}", "Cisco 8841", "", False) for i in range(20)]
    assert PAGE_SIZE == 9
    assert page_count(tuple(many)) == 3
    assert len(page(tuple(many), 0)) == 9 and len(page(tuple(many), 2)) == 2
    assert page(tuple(many), 3) == ()


def test_d4_candidate_mac_for_reading():
    assert Candidate("SEP001122AABB12", "Cisco 7965", "", False).mac == "001122AABB12"


def test_d4_pages_turn_and_wrap_and_a_key_picks_only_from_its_page():
    many = tuple(Candidate(f"SEP{i:012X}", "Cisco 7965", "", False) for i in range(20))
    assert [next_page(many, n) for n in range(3)] == [1, 2, 0]  # 9 + 9 + 2: after the last, the first
    assert pick(many, 0, 1) == many[0] and pick(many, 1, 9) == many[17] and pick(many, 2, 2) == many[19]
    assert pick(many, 2, 3) is None and pick(many, 0, 0) is None and pick(many, 0, 10) is None
    assert page_count(many, size=10) == 2 and page(many, 1, size=10) == many[10:]  # the screens' 10 a page
