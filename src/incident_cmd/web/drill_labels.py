"""What the pages and the after-action report call a drill evaluation's values: HSEEP's
ratings, the hot wash's kinds of note and the automatic results (catalog message ids,
translated where they are shown)."""

from collections.abc import Callable, Mapping
from datetime import timedelta

from incident_cmd.drills.evaluation_models import NoteKind, Rating
from incident_cmd.drills.scoring import Result
from incident_cmd.web.labels import N_

RATINGS: Mapping[str, str] = {
    Rating.performed: N_("P: performed without challenges"),
    Rating.some_challenges: N_("S: performed with some challenges"),
    Rating.major_challenges: N_("M: performed with major challenges"),
    Rating.unable: N_("U: unable to be performed"),
}
NOTE_KINDS: Mapping[str, str] = {
    NoteKind.strength: N_("Strength"),
    NoteKind.improvement: N_("Area for improvement"),
    NoteKind.note: N_("Note"),
}
RESULTS: Mapping[str, str] = {
    Result.met: N_("Met"),
    Result.missed: N_("Missed"),
    Result.pending: N_("Not yet"),
    Result.untested: N_("Not tested: its inject never fired"),
}
LABELS: Mapping[str, Mapping[str, str]] = {
    "rating": RATINGS,
    "note_kind": NOTE_KINDS,
    "result": RESULTS,
}


def drill_label(value: str, kind: str) -> str:
    return LABELS[kind].get(value, value)


def taken_text(taken: timedelta | None, gettext: Callable[[str], str]) -> str:
    """Exercise time to the second: a target of whole minutes is missed by one second."""
    if taken is None:
        return "—"
    minutes, seconds = divmod(int(taken.total_seconds()), 60)
    if seconds:
        return gettext("%(minutes)s min %(seconds)s s") % {"minutes": minutes, "seconds": seconds}
    return gettext("%(minutes)s min") % {"minutes": minutes}
