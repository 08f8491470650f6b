from pathlib import Path

import pytest
from typer.testing import CliRunner

from incident_cmd.cli import app as cli
from incident_cmd.config import PROJECT_ROOT
from incident_cmd.playbooks.loader import PlaybookInvalid, load_directory, parse_playbook

SHIPPED = PROJECT_ROOT / "playbooks"
TEMPLATES = PROJECT_ROOT / "templates"

MINIMAL = """\
key: tiny
name: {zh-CN: 小, en: Tiny}
kind: service_outage
severities:
  - key: sev1
    name: {zh-CN: 一级, en: Level 1}
    respond_within: 15m
    resolve_within: 4h
roles:
  - key: commander
    title: {zh-CN: 总指挥, en: Commander}
    team: executives
tasks:
  - key: diagnose
    title: {zh-CN: 定位, en: Diagnose}
    role: commander
    due: 30m
"""


def problems_of(text: str, template_dir: Path | None = None) -> list[str]:
    with pytest.raises(PlaybookInvalid) as excinfo:
        parse_playbook(text, Path("pb.yaml"), template_dir)
    return [str(problem) for problem in excinfo.value.problems]


def test_every_shipped_playbook_is_valid_and_covers_the_five_kinds():
    loaded = load_directory(SHIPPED, TEMPLATES)
    kinds = {item.playbook.kind for item in loaded.values()}
    assert kinds == {
        "mass_complaint",
        "product_recall",
        "natural_disaster",
        "service_outage",
        "complaint_escalation",
    }
    for item in loaded.values():
        keys = {role.key for role in item.playbook.roles}
        assert "commander" in keys, item.path


def test_minimal_playbook_parses_and_hash_ignores_comments():
    first = parse_playbook(MINIMAL, Path("a.yaml"))
    second = parse_playbook("# a comment\n" + MINIMAL, Path("b.yaml"))
    assert first.content_hash == second.content_hash
    changed = parse_playbook(MINIMAL.replace("due: 30m", "due: 45m"), Path("c.yaml"))
    assert changed.content_hash != first.content_hash


def test_unknown_key_is_reported_with_line_and_field():
    text = MINIMAL.replace("    due: 30m", "    due: 30m\n    owner: bob")
    assert problems_of(text) == ["pb.yaml:18: tasks[0].owner: Extra inputs are not permitted"]


def test_wrong_type_and_missing_field_are_reported_together():
    text = MINIMAL.replace("    resolve_within: 4h\n", "").replace("due: 30m", "due: soon")
    problems = problems_of(text)
    assert "pb.yaml:5: severities[0].resolve_within: Field required" in problems
    assert any(
        p.startswith("pb.yaml:16: tasks[0].due:") and "not a duration" in p for p in problems
    )


def test_bad_references_are_reported():
    text = MINIMAL.replace("role: commander\n    due", "role: captain\n    due").replace(
        "due: 30m", "due: 30m\n    depends_on: nothing"
    )
    problems = problems_of(text)
    assert "pb.yaml:16: tasks[0].role: no roster role 'captain'" in problems
    assert "pb.yaml:18: tasks[0].depends_on: no task 'nothing'" in problems


def test_an_acting_role_must_be_another_role_of_the_playbook():
    acting_nobody = MINIMAL.replace(
        "    team: executives\n", "    team: executives\n    acting: deputy\n"
    )
    assert problems_of(acting_nobody) == [
        "pb.yaml:13: roles[0].acting: no other roster role 'deputy'"
    ]
    chain_without = MINIMAL.replace(
        "    team: executives\n", "    team: executives\n    escalation: {chain: [acting]}\n"
    )
    assert problems_of(chain_without) == [
        "pb.yaml:13: roles[0].escalation: the acting step needs the role's acting"
    ]
    cadence = MINIMAL.replace("resolve_within: 4h", "resolve_within: 4h\n    report_every: 2d")
    [problem] = problems_of(cadence)
    assert (
        problem.startswith("pb.yaml:9: severities[0].report_every:")
        and "minutes or hours" in problem
    )


def test_dependency_cycle_is_reported():
    text = (
        MINIMAL
        + """\
  - key: fix
    title: {zh-CN: 修复, en: Fix}
    role: commander
    due: 1h
    depends_on: verify
  - key: verify
    title: {zh-CN: 验证, en: Verify}
    role: commander
    due: 2h
    depends_on: fix
"""
    )
    problems = problems_of(text)
    assert any("tasks[1].depends_on: dependencies form a cycle" in p for p in problems)


def test_any_slug_is_a_kind_and_a_playbook_may_name_it():
    text = MINIMAL.replace(
        "kind: service_outage\n",
        "kind: cold-chain-failure\nkind_name: {zh-CN: 冷链故障, en: Cold-chain failure}\n",
    )
    playbook = parse_playbook(text, Path("pb.yaml")).playbook
    assert playbook.kind == "cold-chain-failure"
    assert playbook.kind_name is not None and playbook.kind_name.en == "Cold-chain failure"
    assert parse_playbook(MINIMAL, Path("pb.yaml")).playbook.kind_name is None


@pytest.mark.parametrize(
    "kind", ["Cold-Chain", "cold chain", "-cold", "9lives", "冷链", "x" * 33, '""']
)
def test_a_kind_that_is_not_a_slug_is_refused_at_its_line(kind):
    [problem] = problems_of(MINIMAL.replace("kind: service_outage", f"kind: {kind}"))
    assert problem.startswith("pb.yaml:3: kind: ")
    assert "an incident kind is a slug of at most 32 characters" in problem


def test_duplicate_yaml_key_is_reported():
    text = MINIMAL.replace("kind: service_outage\n", "kind: service_outage\nkind: product_recall\n")
    assert "pb.yaml:4: kind: key appears twice" in problems_of(text)


def test_yaml_syntax_error_names_the_line():
    text = MINIMAL.replace("name: {zh-CN: 小, en: Tiny}", "name: {zh-CN: 小, en: Tiny")
    [problem] = problems_of(text)
    assert problem.startswith("pb.yaml:")
    assert "not valid YAML" in problem


def test_missing_message_template_is_reported():
    text = (
        MINIMAL
        + """\
notifications:
  - key: notice
    channel: sms
    template: no_such_template
    audience: scope_purchasers
"""
    )
    problems = problems_of(text, TEMPLATES)
    assert any(
        "notifications[0].template: no template messages/no_such_template.sms.zh-CN.j2" in p
        for p in problems
    )


def test_a_notice_on_a_channel_that_carries_none_is_refused_at_its_line():
    text = (
        MINIMAL
        + """\
notifications:
  - key: notice
    channel: voice
    template: recall_notice
    audience: scope_purchasers
"""
    )
    [problem] = problems_of(text)
    assert problem.startswith("pb.yaml:20: notifications[0].channel: ")
    assert "voice carries no notices; the channels that do: sms, email" in problem


def test_duplicate_playbook_key_across_files(tmp_path):
    (tmp_path / "a.yaml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(PlaybookInvalid, match=r"also used by a\.yaml"):
        load_directory(tmp_path)


def test_cli_validate_reports_every_problem_and_exits_non_zero(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        MINIMAL.replace("team: executives", "team: executives\n    pager: yes"), encoding="utf-8"
    )
    result = CliRunner().invoke(cli, ["playbook", "validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{good}: ok" in result.stdout
    assert f"{bad}:13: roles[0].pager: Extra inputs are not permitted" in result.stderr
    assert "Traceback" not in result.output


def test_cli_validate_passes_shipped_playbooks():
    result = CliRunner().invoke(cli, ["playbook", "validate", str(SHIPPED)])
    assert result.exit_code == 0, result.output


def test_server_refuses_to_start_with_an_invalid_playbook(tmp_path, monkeypatch, use_database):
    (tmp_path / "broken.yaml").write_text(
        MINIMAL.replace("kind: service_outage", "kind: Party Time"), encoding="utf-8"
    )
    monkeypatch.setenv("INCIDENT_CMD_PLAYBOOK_DIR", str(tmp_path))
    from incident_cmd.app import create_app
    from incident_cmd.config import get_settings

    get_settings.cache_clear()
    with pytest.raises(PlaybookInvalid, match=r"broken.yaml:3: kind: .*an incident kind is a slug"):
        create_app(check_schema=False, run_worker=False)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 1
    assert "broken.yaml:3: kind" in result.output
