"""Playbooks and drill scenarios are read from their files again when one changes, and only
then: the worker's sweeps ask for them every few seconds."""

import os
import shutil

import pytest

from incident_cmd.config import PROJECT_ROOT, get_settings
from incident_cmd.drills import flows as drill_flows
from incident_cmd.playbooks import loader
from incident_cmd.playbooks.service import PlaybookRegistry


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Copies of the shipped playbooks and scenarios that the settings point at."""
    playbooks, drills = tmp_path / "playbooks", tmp_path / "drills"
    shutil.copytree(PROJECT_ROOT / "playbooks", playbooks)
    shutil.copytree(PROJECT_ROOT / "drills", drills)
    monkeypatch.setenv("INCIDENT_CMD_PLAYBOOK_DIR", str(playbooks))
    monkeypatch.setenv("INCIDENT_CMD_DRILL_DIR", str(drills))
    get_settings.cache_clear()
    return playbooks, drills


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The playbook files parsed from now on."""
    parsed: list[str] = []
    parse = loader.load_file

    def counted(path, *args, **kwargs):
        parsed.append(path.name)
        return parse(path, *args, **kwargs)

    monkeypatch.setattr(loader, "load_file", counted)
    return parsed


def _renamed(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_unchanged_playbooks_are_not_parsed_again(served, parses):
    first = PlaybookRegistry.from_settings()
    parsed = len(parses)
    assert parsed == len(list(served[0].glob("*.yaml")))

    assert PlaybookRegistry.from_settings() is first
    assert len(parses) == parsed


def test_an_edited_playbook_is_read_again(served):
    playbooks, _ = served
    before = PlaybookRegistry.from_settings()
    recall = playbooks / "product-recall.yaml"
    name = before.get("product-recall").snapshot["name"]["en"]
    _renamed(recall, f"en: {name}", "en: Recall, as edited")

    after = PlaybookRegistry.from_settings()
    assert after.get("product-recall").snapshot["name"]["en"] == "Recall, as edited"
    assert after.fingerprint != before.fingerprint


def test_an_edit_within_the_same_timestamp_is_still_seen(served):
    """Coarse file-system clocks give two writes one modification time; the size differs."""
    playbooks, _ = served
    recall = playbooks / "product-recall.yaml"
    stamp = recall.stat().st_mtime_ns
    before = PlaybookRegistry.from_settings()
    name = before.get("product-recall").snapshot["name"]["en"]
    _renamed(recall, f"en: {name}", "en: Recall, edited twice")
    os.utime(recall, ns=(stamp, stamp))

    assert PlaybookRegistry.from_settings().get("product-recall").snapshot["name"]["en"] == (
        "Recall, edited twice"
    )


def test_a_removed_playbook_is_gone_and_a_broken_one_is_refused(served):
    playbooks, _ = served
    assert "service-outage" in {
        item.playbook.key for item in PlaybookRegistry.from_settings().all()
    }
    (playbooks / "service-outage.yaml").unlink()
    assert "service-outage" not in {
        item.playbook.key for item in PlaybookRegistry.from_settings().all()
    }

    (playbooks / "mass-complaint.yaml").write_text("key: [unclosed\n", encoding="utf-8")
    with pytest.raises(loader.PlaybookInvalid, match=r"mass-complaint\.yaml"):
        PlaybookRegistry.from_settings()


def test_an_edited_scenario_is_read_again_and_an_unchanged_one_is_not(served, monkeypatch):
    _, drills = served
    playbooks = PlaybookRegistry.from_settings()
    reads: list[int] = []
    read = drill_flows.load_directory

    def counted(*args):
        reads.append(1)
        return read(*args)

    monkeypatch.setattr(drill_flows, "load_directory", counted)
    first = drill_flows.scenarios(playbooks)
    assert drill_flows.scenarios(playbooks) == first
    assert len(reads) == 1

    typhoon = drills / "typhoon-service-centre.yaml"
    name = first["typhoon-service-centre"].snapshot["name"]["en"]
    _renamed(typhoon, f"en: {name}", "en: Typhoon, as edited")
    again = drill_flows.scenarios(playbooks)
    assert len(reads) == 2
    assert again["typhoon-service-centre"].snapshot["name"]["en"] == "Typhoon, as edited"
