"""The post-incident review and the quarterly review meeting (售后复盘会) as documents: each is
built once, in one language, as a typed :class:`Report` (every word and figure already said),
then rendered as Markdown from one template and as HTML from another; the PDF is WeasyPrint's
rendering of that HTML. The quarterly page shows the same parts under its charts.

Chinese needs a CJK font in the PDF: the HTML embeds one through ``@font-face`` from a file
on this machine (the configured ``report_font``, else what fontconfig's ``fc-match`` names for
Chinese, Debian's fonts-wqy-microhei in the test setup). Nothing is fetched from the network:
WeasyPrint is handed only that file."""

import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from incident_cmd import clock
from incident_cmd.config import get_settings
from incident_cmd.drills.evaluation_models import NoteKind
from incident_cmd.drills.flows import Evaluation
from incident_cmd.drills.scoring import Result
from incident_cmd.errors import Invalid
from incident_cmd.i18n import Locale
from incident_cmd.incidents.models import Incident, IncidentStatus
from incident_cmd.playbooks.schema import Bilingual, Playbook
from incident_cmd.postmortems.models import FollowUpState, Section
from incident_cmd.postmortems.schemas import Quarterly, Rate, ReviewRead
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.web import translations
from incident_cmd.web.drill_labels import drill_label, taken_text
from incident_cmd.web.event_text import SECTION_NAMES, Reading, event_text
from incident_cmd.web.incident_room import Wording
from incident_cmd.web.labels import kind_name, label_of

# --- the document --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class Table:
    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    empty: str = ""  # said instead of a table without rows


@dataclass(frozen=True)
class Part:
    heading: str
    anchor: str
    facts: tuple[Fact, ...] = ()
    tables: tuple[Table, ...] = ()
    text: str = ""  # written by people, kept as they wrote it
    empty: str = ""  # said when the part has nothing else


@dataclass(frozen=True)
class Report:
    locale: Locale
    title: str
    subtitle: str
    facts: tuple[Fact, ...]
    parts: tuple[Part, ...]
    footer: str
    filename: str  # the downloads' name, without the extension
    # What the quarterly page charts (not part of the documents, which show tables).
    charts: dict[str, Any] = field(default_factory=dict)


def report_locale(lang: str | None, default: str) -> Locale:
    """``?lang=`` when given, else the reader's own language."""
    if lang is None:
        return Locale(default)
    locale = translations.parse_locale(lang)
    if locale is None:
        names = ", ".join(known.value for known in Locale)
        raise Invalid(f"lang {lang!r} is not one of {names}", field="lang")
    return locale


class _Say:
    """The words of one report: its language's catalog, spans and percentages."""

    def __init__(self, locale: Locale, zone: ZoneInfo) -> None:
        self.locale = locale
        self.zone = zone
        self.wording = Wording(locale, clock.now())
        self.gettext = translations.translations(locale).gettext

    def span(self, seconds: int | None) -> str:
        return "—" if seconds is None else self.wording.span(seconds)

    def percent(self, rate: float | None) -> str:
        return "—" if rate is None else f"{rate * 100:.1f}%"

    def rate(self, rate: Rate, messages: int | None = None) -> str:
        counted = f"{rate.count} / {messages}" if messages is not None else str(rate.count)
        return f"{self.percent(rate.rate)} ({counted})"

    def moment(self, moment: datetime | None) -> str:
        return "—" if moment is None else moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def label(self, value: str, kind: str | None = None) -> str:
        return self.gettext(label_of(value, kind))

    def kind(self, kind: str, playbooks: Iterable[Playbook]) -> str:
        """An incident kind, named by ``playbooks`` when they declare it (``labels.kind_name``)."""
        of_kind = [playbook for playbook in playbooks if playbook.kind == kind]
        return kind_name(kind, of_kind, self.locale, self.gettext)

    def footer(self, organisation: str) -> str:
        _ = self.gettext
        return _("%(organisation)s · generated %(when)s (%(zone)s)") % {
            "organisation": organisation,
            "when": self.moment(clock.now()),
            "zone": self.zone.key,
        }


def _seat_name(playbook: Playbook, wording: Wording, role: str, slot: int) -> str:
    found = playbook.role(role)
    name = wording.pick(found.title.model_dump(by_alias=True)) if found else role
    return f"{name} {slot + 1}" if slot else name


def _severity_name(playbook: Playbook | None, wording: Wording, key: str) -> str:
    severity = playbook.severity(key) if playbook else None
    name = wording.pick(severity.name.model_dump(by_alias=True)) if severity else ""
    return f"{key.upper()} {name}".strip()


# --- one incident's review -----------------------------------------------------------------


def review_report(
    *,
    incident: Incident,
    playbook: Playbook,
    review: ReviewRead,
    starred: Sequence[TimelineEvent],
    names: Callable[[int | None], str | None],
    locale: Locale,
    zone: str,
) -> Report:
    """``starred`` are the timeline entries themselves, said in the report's language as the
    room says them; ``names`` gives a person's username by id."""
    say = _Say(locale, ZoneInfo(zone))
    _ = say.gettext
    wording = say.wording
    f = review.figures
    reading = Reading(locale, zone, playbook)
    state = {
        True: _("Done"),
        False: _("Open"),
    }

    def done_by(person: str | None) -> str:
        return _("Done by %(person)s") % {"person": person or "—"}

    facts = [
        Fact(_("Number"), incident.number),
        Fact(_("Kind"), say.kind(incident.kind, [playbook])),
        Fact(_("Playbook"), wording.pick(playbook.name.model_dump(by_alias=True))),
        Fact(_("Severity"), _severity_name(playbook, wording, incident.severity)),
        Fact(_("Status"), say.label(IncidentStatus(incident.status))),
        Fact(_("Declared"), say.moment(incident.declared_at)),
        Fact(_("Resolved"), say.moment(incident.resolved_at)),
        Fact(_("Closed"), say.moment(incident.closed_at)),
    ]
    if review.approved_at is not None:
        facts.append(
            Fact(
                _("Approval"),
                _("Approved by %(person)s, %(when)s")
                % {"person": review.approved_by, "when": say.moment(review.approved_at)},
            )
        )
    figures = Part(
        heading=_("Figures"),
        anchor="figures",
        facts=(
            Fact(_("Time to detect"), say.span(f.seconds_to_detect)),
            Fact(_("Time to full roster"), say.span(f.seconds_to_full_roster)),
            Fact(_("Time to first customer notice"), say.span(f.seconds_to_first_notice)),
            Fact(_("Time to first public statement"), say.span(f.seconds_to_first_statement)),
            Fact(_("Time to resolution"), say.span(f.seconds_to_resolution)),
            Fact(_("Messages delivered"), say.rate(f.delivered, f.messages)),
            Fact(_("Messages failed"), say.rate(f.failed, f.messages)),
            Fact(_("Opted out"), say.rate(f.opted_out, f.messages)),
            Fact(
                _("SLA targets met"),
                f"{say.percent(f.sla_attainment)} ({f.sla_targets_met} / {f.sla_targets_decided})",
            ),
            Fact(
                _("Compensation paid"),
                f"{f.compensation_total:.2f} ("
                + _("%(count)s tickets") % {"count": f.compensation_tickets}
                + ")",
            ),
        ),
        tables=(
            Table(
                caption=_("Time to acknowledge, per seat"),
                head=(_("Role"), _("Acknowledged after"), _("Target")),
                rows=tuple(
                    (
                        _seat_name(playbook, wording, seat.role, seat.slot),
                        say.span(seat.seconds_to_ack),
                        say.span(seat.target_seconds),
                    )
                    for seat in f.seats
                ),
                empty=_("No seat was paged."),
            ),
            Table(
                caption=_("Linked complaints per hour (%(count)s in all)")
                % {"count": f.complaints},
                head=(_("Hour"), _("Complaints")),
                rows=tuple((say.moment(hour.hour), str(hour.count)) for hour in f.complaint_curve),
                empty=_("No complaints linked to the incident."),
            ),
        ),
    )
    checklist = Part(
        heading=_("Review checklist"),
        anchor="checklist",
        tables=(
            Table(
                head=(_("Item"), _("Owner"), _("Due"), _("State")),
                rows=tuple(
                    (
                        item.item,
                        item.owner or "—",
                        say.moment(item.due_at),
                        done_by(item.completed_by)
                        if item.done
                        else state[False] + (f" · {_('Overdue')}" if item.overdue else ""),
                    )
                    for item in review.checklist
                ),
                empty=_("The playbook has no review checklist."),
            ),
        ),
    )
    starred_part = Part(
        heading=_("Starred timeline entries"),
        anchor="starred",
        tables=(
            Table(
                head=(_("Time"), _("Entry"), _("By")),
                rows=tuple(
                    (say.moment(event.at), event_text(event, reading), names(event.actor_id) or "—")
                    for event in starred
                ),
                empty=_("Nothing starred."),
            ),
        ),
    )
    sections = tuple(
        Part(
            heading=_(SECTION_NAMES[section.value]),
            anchor=f"section-{section.value}",
            text=review.sections[section],
            empty=_("Not written yet."),
        )
        for section in Section
    )
    followups = Part(
        heading=_("Follow-up actions"),
        anchor="followups",
        tables=(
            Table(
                head=(_("Action"), _("Owner"), _("Due"), _("State")),
                rows=tuple(
                    (
                        item.title,
                        item.owner,
                        item.due_on.isoformat(),
                        done_by(item.done_by)
                        if item.state == "done"
                        else state[False] + (f" · {_('Overdue')}" if item.overdue else ""),
                    )
                    for item in review.followups
                ),
                empty=_("No follow-up actions yet."),
            ),
        ),
    )
    return Report(
        locale=locale,
        title=f"{_('Post-incident review')} · {incident.number}",
        subtitle=incident.title,
        facts=tuple(facts),
        parts=(figures, *sections, starred_part, checklist, followups),
        footer=say.footer(get_settings().organisation_name),
        filename=f"{incident.number}-review-{locale.value}",
    )


# --- the quarter ---------------------------------------------------------------------------


def _minutes(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _hours(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _percent_points(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def quarterly_report(*, data: Quarterly, playbooks: dict[str, Playbook], locale: Locale) -> Report:
    """The quarter in the organisation's time zone; ``playbooks`` by key, to name severities
    as each incident's playbook does, and kinds as the playbooks do."""
    zone = ZoneInfo(get_settings().default_timezone)
    say = _Say(locale, zone)
    _ = say.gettext
    wording = say.wording
    months = [month.month for month in data.months]
    last_day = (data.ends_at - timedelta(seconds=1)).astimezone(zone).date()

    def numbers(members: list[str]) -> str:
        return ", ".join(members)

    def row(label: str, values: Sequence[str]) -> tuple[str, ...]:
        return (label, *values)

    by_month = data.months
    trend = Table(
        head=(_("Figure"), *months),
        rows=(
            row(_("Incidents"), [str(month.incidents) for month in by_month]),
            row(_("Time to detect"), [say.span(m.seconds_to_detect) for m in by_month]),
            row(_("Time to acknowledge a page"), [say.span(m.seconds_to_ack) for m in by_month]),
            row(_("Time to full roster"), [say.span(m.seconds_to_full_roster) for m in by_month]),
            row(
                _("Time to first customer notice"),
                [say.span(m.seconds_to_first_notice) for m in by_month],
            ),
            row(
                _("Time to first public statement"),
                [say.span(m.seconds_to_first_statement) for m in by_month],
            ),
            row(_("Time to resolution"), [say.span(m.seconds_to_resolution) for m in by_month]),
            row(_("Messages delivered"), [say.rate(m.delivered, m.messages) for m in by_month]),
            row(_("Messages failed"), [say.rate(m.failed, m.messages) for m in by_month]),
            row(_("Opted out"), [say.rate(m.opted_out, m.messages) for m in by_month]),
            row(_("Linked complaints"), [str(m.complaints) for m in by_month]),
            row(
                _("SLA targets met"),
                [
                    f"{say.percent(m.sla_attainment)} ({m.sla_targets_met} / "
                    f"{m.sla_targets_decided})"
                    for m in by_month
                ],
            ),
            row(_("Compensation paid"), [f"{m.compensation_total:.2f}" for m in by_month]),
        ),
        caption=_(
            "Times are medians of the month's incidents (acknowledgement: of every paged "
            "seat); rates are of all their messages and targets."
        ),
    )
    counts = Part(
        heading=_("Incidents by kind and severity"),
        anchor="counts",
        tables=(
            Table(
                head=(_("Kind"), _("Incidents")),
                rows=tuple(
                    (say.kind(kind, playbooks.values()), str(count))
                    for kind, count in data.by_kind.items()
                ),
                empty=_("No incidents this quarter."),
            ),
            Table(
                head=(_("Severity"), _("Incidents")),
                rows=tuple(
                    (severity.upper(), str(count)) for severity, count in data.by_severity.items()
                ),
                empty=_("No incidents this quarter."),
            ),
        ),
    )
    trends = Part(heading=_("Figures by month"), anchor="trends", tables=(trend,))
    followups = Part(
        heading=_("Follow-up actions still open"),
        anchor="followups",
        tables=(
            Table(
                head=(_("Incident"), _("Action"), _("Owner"), _("Due"), _("State")),
                rows=tuple(
                    (
                        item.number,
                        item.title,
                        item.owner,
                        item.due_on.isoformat(),
                        _("Overdue") if item.overdue else _("Open"),
                    )
                    for item in data.open_followups
                ),
                empty=_("Every follow-up action of the quarter's incidents is done."),
            ),
        ),
    )
    causes = Part(
        heading=_("Recurring causes"),
        anchor="causes",
        text=_(
            "Cause tags are the words marked with # in each review's causes section "
            "(for example #supplier-parts); a cause that recurs is one tag on several "
            "incidents."
        ),
        facts=(Fact(_("Reviews naming no cause tag"), numbers(data.untagged) or "—"),),
        tables=(
            Table(
                caption=_("By kind"),
                head=(_("Kind"), _("Incidents"), _("Numbers")),
                rows=tuple(
                    (
                        say.kind(group.key, playbooks.values()),
                        str(len(group.incidents)),
                        numbers(group.incidents),
                    )
                    for group in data.causes_by_kind
                ),
                empty=_("No incidents this quarter."),
            ),
            Table(
                caption=_("By cause tag"),
                head=(_("Cause tag"), _("Incidents"), _("Numbers")),
                rows=tuple(
                    (f"#{group.key}", str(len(group.incidents)), numbers(group.incidents))
                    for group in data.cause_tags
                ),
                empty=_("No review names a cause tag."),
            ),
        ),
    )
    incidents = Part(
        heading=_("The quarter's incidents"),
        anchor="incidents",
        tables=(
            Table(
                head=(
                    _("Number"),
                    _("Title"),
                    _("Kind"),
                    _("Severity"),
                    _("Declared"),
                    _("Status"),
                ),
                rows=tuple(
                    (
                        item.number,
                        item.title,
                        say.kind(item.kind, playbooks.values()),
                        _severity_name(playbooks.get(item.playbook), wording, item.severity),
                        say.moment(item.declared_at),
                        say.label(IncidentStatus(item.status)),
                    )
                    for item in data.incidents
                ),
                empty=_("No incidents this quarter."),
            ),
        ),
    )
    charts = {
        "months": months,
        "times": {
            "title": _("Median times per month (minutes)"),
            "series": [
                {"name": _(name), "data": [_minutes(getattr(m, key)) for m in by_month]}
                for name, key in (
                    ("Time to detect", "seconds_to_detect"),
                    ("Time to acknowledge a page", "seconds_to_ack"),
                    ("Time to full roster", "seconds_to_full_roster"),
                    ("Time to first customer notice", "seconds_to_first_notice"),
                    ("Time to first public statement", "seconds_to_first_statement"),
                )
            ],
        },
        "resolution": {
            "title": _("Median time to resolution per month (hours)"),
            "series": [
                {
                    "name": _("Time to resolution"),
                    "data": [_hours(m.seconds_to_resolution) for m in by_month],
                }
            ],
        },
        "rates": {
            "title": _("Rates per month, in percent"),
            "series": [
                {
                    "name": _("Messages delivered"),
                    "data": [_percent_points(m.delivered.rate) for m in by_month],
                },
                {
                    "name": _("Messages failed"),
                    "data": [_percent_points(m.failed.rate) for m in by_month],
                },
                {
                    "name": _("Opted out"),
                    "data": [_percent_points(m.opted_out.rate) for m in by_month],
                },
                {
                    "name": _("SLA targets met"),
                    "data": [_percent_points(m.sla_attainment) for m in by_month],
                },
            ],
        },
    }
    return Report(
        locale=locale,
        title=_("Quarterly after-sales review meeting · %(quarter)s") % {"quarter": data.quarter},
        subtitle=_("Drills are left out of every figure (%(count)s this quarter).")
        % {"count": data.drills_excluded},
        facts=(
            Fact(_("Quarter"), data.quarter),
            Fact(
                _("Period"),
                f"{data.starts_at.astimezone(zone).date().isoformat()} – {last_day.isoformat()} "
                f"({zone.key})",
            ),
            Fact(_("Incidents"), str(len(data.incidents))),
            Fact(_("Drills left out"), str(data.drills_excluded)),
        ),
        parts=(counts, trends, followups, causes, incidents),
        footer=say.footer(get_settings().organisation_name),
        filename=f"quarterly-review-{data.quarter}-{locale.value}",
        charts=charts,
    )


# --- rendering -----------------------------------------------------------------------------


def _cell(value: str) -> str:
    """A value as one Markdown table cell: a pipe would end the cell, a newline the row."""
    return re.sub(r"\s*\n\s*", " ", value).replace("|", "\\|")


@cache
def _environment(template_dir: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader([template_dir / "reports", template_dir / "web"]),
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )
    env.filters["cell"] = _cell
    translations.install(env)
    return env


def _render(name: str, **context: Any) -> str:
    return _environment(Path(get_settings().template_dir)).get_template(name).render(**context)


def as_markdown(report: Report) -> str:
    text = _render("report.md.j2", report=report, locale=report.locale)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def report_font() -> Path | None:
    """The font file that draws Chinese: the configured one, else fontconfig's best match
    for Chinese; None when this machine has neither."""
    configured = get_settings().report_font
    if configured is not None:
        return configured if configured.is_file() else None
    return _matched_font()


@cache
def _matched_font() -> Path | None:
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    found = subprocess.run(
        [fc_match, "--format=%{file}", ":lang=zh-cn"],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    ).stdout.strip()
    path = Path(found) if found else None
    return path if path is not None and path.is_file() else None


def as_html(report: Report, *, nonce: str | None = None) -> str:
    """``nonce``: the page's CSP nonce, for its style sheet when a browser shows it."""
    font = report_font()
    return _render(
        "report.html.j2",
        report=report,
        locale=report.locale,
        font_url=font.as_uri() if font else None,
        nonce=nonce,
    )


def as_pdf(report: Report) -> bytes:
    # Imported here: WeasyPrint loads Pango when imported, which only the PDF needs.
    from weasyprint import HTML, URLFetcher

    font = report_font()
    allowed = font.as_uri() if font else None

    class FontOnly(URLFetcher):
        """The document is ours, but its text is people's: only the font file is read."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            if url != allowed:
                raise ValueError(f"the report fetches nothing but its font, not {url}")
            return super().fetch(url, headers)

    # Without a target, write_pdf returns the document's bytes.
    return bytes(HTML(string=as_html(report), url_fetcher=FontOnly()).write_pdf())


# --- a drill's after-action report and improvement plan (AAR/IP, after HSEEP) ----------------


def drill_report(*, data: Evaluation, locale: Locale, zone: str) -> Report:
    """The run as HSEEP's after-action report: the exercise overview (scenario, type, dates,
    participants, the injects and when they fired), each objective with its automatic score,
    the evaluators' ratings and the timeline entries that show it, the hot wash's strengths
    and areas for improvement (with every objective that missed its target), and the
    improvement plan, whose items are tracked follow-ups."""
    say = _Say(locale, ZoneInfo(zone))
    _ = say.gettext
    wording = say.wording
    run, scenario, playbook = data.run, data.scenario, data.playbook
    names = data.names
    reading = Reading(locale, zone, playbook)

    def pick(text: Bilingual) -> str:
        return wording.pick(text.model_dump(by_alias=True))

    def drill(value: str, kind: str) -> str:
        return _(drill_label(value, kind))

    objectives = {score.objective.key: pick(score.objective.description) for score in data.scores}
    facts = (
        Fact(_("Scenario"), pick(scenario.name)),
        Fact(_("Exercise type"), say.label(scenario.exercise, "exercise")),
        Fact(_("Playbook"), wording.pick(playbook.name.model_dump(by_alias=True))),
        Fact(_("Severity"), _severity_name(playbook, wording, data.incident.severity)),
        Fact(_("Drill incident"), data.incident.number),
        Fact(_("Controller"), names.of(run.controller_id) or "—"),
        Fact(_("Started"), say.moment(run.started_at)),
        Fact(_("Ended"), say.moment(run.ended_at)),
        Fact(_("Paused in all"), say.span(run.paused_seconds)),
    )
    injects = Table(
        caption=_("Injects (master scenario events list)"),
        head=(_("Planned"), _("Inject"), _("Kind"), _("Fired"), _("Expected action")),
        rows=tuple(
            (
                "+" + _("%(minutes)s min") % {"minutes": row.offset_minutes},
                pick(scenario.injects[row.position].description),
                say.label(scenario.injects[row.position].action.type, "inject"),
                say.moment(row.fired_at) if row.fired_at else _("Not fired"),
                pick(scenario.injects[row.position].expected_action),
            )
            for row in data.injects
        ),
    )
    seats = Table(
        caption=_("Participants"),
        head=(_("Person"), _("Seat")),
        rows=tuple(
            (names.of(user_id) or "—", _seat_name(playbook, wording, role, slot))
            for role, slot, user_id in data.seats
        ),
        empty=_("Nobody sat on the drill's roster."),
    )
    overview = Part(
        heading=_("Exercise overview"),
        anchor="overview",
        text=pick(scenario.description),
        tables=(seats, injects),
    )
    ratings: dict[str, list[str]] = {}
    for rating in data.ratings:
        ratings.setdefault(rating.objective_key, []).append(
            f"{rating.rating} ({names.of(rating.evaluator_id) or '—'})"
        )
    scored = Table(
        head=(
            _("Objective"),
            _("Result"),
            _("Counted from"),
            _("Target"),
            _("Achieved"),
            _("Time taken"),
            _("Ratings"),
        ),
        rows=tuple(
            (
                objectives[score.objective.key],
                drill(score.result, "result")
                + (f" ({score.done}/{score.of})" if score.of is not None else ""),
                say.moment(score.started_at),
                (
                    _("%(minutes)s min, by %(when)s")
                    % {"minutes": score.target_minutes, "when": say.moment(score.target_at)}
                    if score.target_minutes is not None
                    else _("Before the drill ends")
                ),
                say.moment(score.achieved_at),
                taken_text(score.taken, _),
                ", ".join(ratings.get(score.objective.key, [])) or "—",
            )
            for score in data.scores
        ),
        caption=_(
            "Times are exercise time: the minutes the drill stood paused do not count. "
            "Exactly at the target is met."
        ),
    )
    rated = Table(
        caption=_("Evaluators' ratings"),
        head=(_("Objective"), _("Evaluator"), _("Rating"), _("Notes")),
        rows=tuple(
            (
                objectives.get(rating.objective_key, rating.objective_key),
                names.of(rating.evaluator_id) or "—",
                drill(rating.rating, "rating"),
                rating.notes or "—",
            )
            for rating in data.ratings
        ),
        empty=_("No evaluator has rated an objective."),
    )
    evidence = Table(
        caption=_("Evidence from the timeline"),
        head=(_("Objective"), _("Time"), _("Entry")),
        rows=tuple(
            (objectives[score.objective.key], say.moment(event.at), event_text(event, reading))
            for score in data.scores
            for event in score.evidence
        ),
        empty=_("Nothing on the timeline shows an objective achieved."),
    )
    scored_part = Part(
        heading=_("Objectives"), anchor="objectives", tables=(scored, rated, evidence)
    )

    def notes(kind: NoteKind) -> tuple[tuple[str, ...], ...]:
        return tuple(
            (note.text, names.of(note.author_id) or "—") for note in data.notes if note.kind == kind
        )

    strengths = Part(
        heading=_("Strengths"),
        anchor="strengths",
        tables=(
            Table(
                head=(_("Strength"), _("By")),
                rows=notes(NoteKind.strength),
                empty=_("No strength noted at the hot wash."),
            ),
        ),
    )
    missed = tuple(
        (
            _("Missed its target: %(objective)s") % {"objective": objectives[score.objective.key]},
            _("automatic score"),
        )
        for score in data.scores
        if score.result == Result.missed
    )
    areas = Part(
        heading=_("Areas for improvement"),
        anchor="areas",
        tables=(
            Table(
                head=(_("Area for improvement"), _("By")),
                rows=missed + notes(NoteKind.improvement),
                empty=_("No area for improvement noted."),
            ),
        ),
    )
    other = Part(
        heading=_("Other hot-wash notes"),
        anchor="notes",
        tables=(
            Table(
                head=(_("Note"), _("By")),
                rows=notes(NoteKind.note),
                empty=_("No other notes."),
            ),
        ),
    )
    now = clock.now()
    plan = Part(
        heading=_("Improvement plan"),
        anchor="plan",
        tables=(
            Table(
                head=(_("Action"), _("Objective"), _("Owner"), _("Due"), _("State")),
                rows=tuple(
                    (
                        followup.title,
                        objectives.get(item.objective_key, "—") if item.objective_key else "—",
                        names.of(followup.owner_id) or "—",
                        followup.due_on.isoformat(),
                        (
                            _("Done by %(person)s") % {"person": names.of(followup.done_by) or "—"}
                            if followup.state == FollowUpState.done
                            else _("Open")
                            + (f" · {_('Overdue')}" if followup.due_at <= now else "")
                        ),
                    )
                    for item, followup in data.improvements
                ),
                caption=_(
                    "Each item is a follow-up action of %(number)s, reminded to its owner "
                    "until done."
                )
                % {"number": data.incident.number},
                empty=_("No improvement plan items yet."),
            ),
        ),
    )
    return Report(
        locale=locale,
        title=f"{_('After-action report')} · {pick(scenario.name)}",
        subtitle=_("Drill run %(run)s on %(number)s: after-action report and improvement plan")
        % {"run": run.id, "number": data.incident.number},
        facts=facts,
        parts=(overview, scored_part, strengths, areas, other, plan),
        footer=say.footer(get_settings().organisation_name),
        filename=f"{data.incident.number}-aar-{locale.value}",
    )
