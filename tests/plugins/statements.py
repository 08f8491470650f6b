"""Public statements for the status pages: a recall's words in both languages, the two people
a statement needs, and a statement drafted, approved by the second and published."""

from dataclasses import dataclass

import pytest

from incident_cmd.auth.models import Role, User
from incident_cmd.incidents.models import Incident
from incident_cmd.statements import flows as statement_flows
from incident_cmd.statements.models import Statement
from incident_cmd.statements.schemas import StatementCorrection, StatementDraft
from tests.factories import make_user

TITLE = {"zh-CN": "PX-200 电暖器召回", "en": "PX-200 heater recall"}
TEXT = {
    "zh-CN": "批次 B7 的电暖器可能过热,我们决定召回。",
    "en": "Heaters of batch B7 may overheat; we are recalling them.",
}
ADVICE = {"zh-CN": "请立即停止使用并拔掉电源。", "en": "Stop using it and unplug it now."}


@dataclass
class Speakers:
    spokesperson: User
    approver: User


@pytest.fixture
def speakers(session) -> Speakers:
    return Speakers(make_user(session, Role.comms), make_user(session, Role.duty_manager))


def publish(
    session, incident: Incident, speakers: Speakers, *, corrects: Statement | None = None, **texts
) -> Statement:
    """A statement drafted, approved by a second person and published, as the API would."""
    if corrects is None:
        data = StatementDraft.model_validate({"stage": "recall_announced", **texts})
        statement = statement_flows.draft(
            session, incident_id=incident.id, data=data, actor=speakers.spokesperson
        )
    else:
        statement = statement_flows.correct(
            session,
            incident_id=incident.id,
            statement_id=corrects.id,
            data=StatementCorrection.model_validate(texts),
            actor=speakers.spokesperson,
        )
    for step, who in (
        (statement_flows.approve, speakers.approver),
        (statement_flows.publish, speakers.spokesperson),
    ):
        step(session, incident_id=incident.id, statement_id=statement.id, actor=who)
    session.flush()
    return statement
