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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from incident_cmd import clock
from incident_cmd.config import get_settings
from incident_cmd.errors import Invalid
from incident_cmd.i18n import Locale
from incident_cmd.incidents.models import Incident, IncidentStatus
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.postmortems.models import Section
from incident_cmd.postmortems.schemas import Quarterly, Rate, ReviewRead
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.web import translations
from incident_cmd.web.event_text import SECTION_NAMES, Reading, event_text
from incident_cmd.web.incident_room import Wording
from incident_cmd.web.labels import label_of

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
        Fact(_("Kind"), say.label(incident.kind, "incident_kind")),
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
    as each incident's playbook does."""
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
                    (say.label(kind, "incident_kind"), str(count))
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
                        say.label(group.key, "incident_kind"),
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
                        say.label(item.kind, "incident_kind"),
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
