"""Phone numbers: letters are refused everywhere a number is read, never taken as keypad
digits (``ABCD`` would become 2223 and a stranger would get the messages)."""

import pytest

from incident_cmd.auth.schemas import normalise_phone

LETTERED = ["+86 138 ABCD 0000", "1-800-FLOWERS", "+1 212 555 0123 ext. 4", "+86 138 ＡＢＣＤ 0000"]


@pytest.mark.parametrize("value", LETTERED)
def test_the_shared_normaliser_refuses_letters(value):
    with pytest.raises(ValueError, match="has letters in it"):
        normalise_phone(value)


def test_digits_and_separators_are_still_read():
    assert normalise_phone("+86 138-0013 8000") == "+8613800138000"
    assert normalise_phone("+1 (212) 555-0123") == "+12125550123"


def test_ticket_intake_and_users_refuse_lettered_numbers(client, headers):
    ticket = client.post(
        "/api/v1/tickets",
        json={"phone": LETTERED[0], "channel": "phone", "description": "电饭煲坏了"},
        headers=headers("agent"),
    )
    assert ticket.status_code == 422
    assert "letters" in ticket.text
    user = client.post(
        "/api/v1/users",
        json={"username": "new.agent", "role": "agent", "phone": LETTERED[0]},
        headers=headers("admin"),
    )
    assert user.status_code == 422
    assert "letters" in user.text
