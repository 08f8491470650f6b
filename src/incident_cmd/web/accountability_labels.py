"""What the pages call the values of accountability: authorities, states, outcomes and
kinds of penalty (catalog message ids, translated where they are shown)."""

from collections.abc import Mapping

from incident_cmd.accountability.models import AppealState, Authority, FindingState, PenaltyKind
from incident_cmd.web.labels import N_

LABELS: Mapping[str, str] = {
    Authority.general_affairs: N_("General affairs (综合部)"),
    Authority.general_manager: N_("General manager (总经理)"),
    FindingState.proposed: N_("Awaiting approval"),
    FindingState.approved: N_("Penalty approved"),
    FindingState.rejected: N_("Finding rejected"),
    PenaltyKind.fine: N_("Fine"),
    PenaltyKind.warning: N_("Warning"),
    PenaltyKind.demerit: N_("Demerit"),
    PenaltyKind.other: N_("Other penalty"),
    AppealState.open: N_("Appeal waiting"),
    AppealState.upheld: N_("Decision upheld"),
    AppealState.varied: N_("Decision varied"),
    AppealState.revoked: N_("Decision revoked"),
}


def accountability_label(value: str) -> str:
    return LABELS.get(value, value.replace("_", " "))
