"""Drill scenario files are read as playbooks are: the shipped ones load, and a file with
mistakes is refused with every problem at its file, line and field."""

from pathlib import Path

import pytest

from incident_cmd.drills.flows import scenarios
from incident_cmd.drills.loader import ScenarioInvalid, load_directory, parse_scenario
from incident_cmd.drills.schema import ExerciseType
from tests.plugins.drills import SMALL_SCENARIO

SHIPPED = Path(__file__).resolve().parents[2] / "drills"


def test_the_shipped_scenarios_load_for_three_playbooks(shipped_playbooks):
    loaded = scenarios(shipped_playbooks)
    assert set(loaded) == {"battery-recall", "delivery-delay", "typhoon-service-centre"}
    assert {item.scenario.playbook for item in loaded.values()} == {
        "product-recall",
        "mass-complaint",
        "natural-disaster",
    }
    assert {item.scenario.exercise for item in loaded.values()} == set(ExerciseType)


def test_a_good_file_parses(shipped_playbooks, tmp_path):
    loaded = parse_scenario(SMALL_SCENARIO, tmp_path / "small.yaml", shipped_playbooks)
    assert loaded.scenario.injects[0].action.type == "message"
    assert loaded.snapshot["objectives"][0]["target_minutes"] == 5


def test_mistakes_are_refused_with_file_line_and_field(shipped_playbooks, tmp_path):
    bad = (
        SMALL_SCENARIO.replace("  - role: commander", "  - role: captain")
        .replace("    at: 1", "    at: soon")
        .replace("severity: sev1", "severity: sev9")
    )
    path = tmp_path / "bad.yaml"
    with pytest.raises(ScenarioInvalid) as refused:
        parse_scenario(bad, path, shipped_playbooks)
    lines = str(refused.value).splitlines()
    assert lines == [
        f"{path}:20: injects[0].at: Input should be a valid integer, unable to parse string as "
        "an integer"
    ]
    # Once the types are right, what the scenario says of its playbook is checked.
    with pytest.raises(ScenarioInvalid) as refused:
        parse_scenario(bad.replace("at: soon", "at: 1"), path, shipped_playbooks)
    assert str(refused.value).splitlines() == [
        f"{path}:6: severity: playbook product-recall has no severity 'sev9'",
        f"{path}:12: participants[0].role: no roster role 'captain'",
    ]


def test_an_unknown_inject_type_and_a_repeated_key_are_refused(shipped_playbooks, tmp_path):
    bad = SMALL_SCENARIO.replace("type: message", "type: fireworks") + "    at: 2\n"
    path = tmp_path / "bad.yaml"
    with pytest.raises(ScenarioInvalid) as refused:
        parse_scenario(bad, path, shipped_playbooks)
    lines = str(refused.value).splitlines()
    assert lines[0] == f"{path}:24: injects[0].at: key appears twice"
    assert lines[1].startswith(f"{path}:23: injects[0].action: Input tag 'fireworks'")


def test_a_directory_reports_every_file(shipped_playbooks, tmp_path):
    (tmp_path / "a.yaml").write_text(SMALL_SCENARIO, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        SMALL_SCENARIO.replace("playbook: product-recall", "playbook: x")
    )
    (tmp_path / "c.yaml").write_text("key: [unclosed\n")
    with pytest.raises(ScenarioInvalid) as refused:
        load_directory(tmp_path, shipped_playbooks)
    problems = [str(problem) for problem in refused.value.problems]
    assert problems[0].startswith(f"{tmp_path / 'b.yaml'}:5: playbook: no playbook 'x'")
    assert problems[1].startswith(f"{tmp_path / 'c.yaml'}:2: not valid YAML")
    assert len(problems) == 2
