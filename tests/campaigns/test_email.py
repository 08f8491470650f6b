from incident_cmd import db
from incident_cmd.messaging import suppression
from tests.factories import shanghai_customers
from tests.plugins.messaging import dispatch
from tests.plugins.twilio import PUBLIC


def test_recall_email_through_smtp_with_one_click_unsubscribe(world, smtp, client_factory):
    world.import_customers(shanghai_customers(3))
    campaign_id = world.campaign_for(world.declare_recall(), "recall_email")
    world.approve_and_start(campaign_id)
    assert dispatch() == 3
    assert len(smtp.messages) == 3
    recipients, message = sorted(smtp.messages, key=lambda item: item[0])[0]
    assert recipients == ["cn00000@example.com"]
    assert message["From"] == "recall@demo.example.com"
    assert "PX-200" in message["Subject"] and "B7" in message["Subject"]
    delivery = world.deliveries(campaign_id)[0]
    assert message["Message-ID"] == f"<delivery-{delivery.id}@demo.example.com>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"{PUBLIC}/unsubscribe/")
    assert message.get_body(("plain",)).get_content().startswith("尊敬的客户0")
    assert "<strong>PX-200" in message.get_body(("html",)).get_content()

    client = client_factory()
    path = link.removeprefix(PUBLIC)
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with db.session_scope() as session:
        assert suppression.is_suppressed(session, channel="email", address="cn00000@example.com")
    other = suppression.unsubscribe_url("cn00001@example.com").removeprefix(PUBLIC)
    page = client.get(other)
    assert page.status_code == 200 and '<form method="post">' in page.text
    with db.session_scope() as session:
        assert not suppression.is_suppressed(
            session, channel="email", address="cn00001@example.com"
        )
    confirmed = client.post(other, data={"List-Unsubscribe": "One-Click"})
    assert confirmed.status_code == 200 and "unsubscribed" in confirmed.text
    with db.session_scope() as session:
        assert suppression.is_suppressed(session, channel="email", address="cn00001@example.com")


def test_forged_unsubscribe_token_is_refused(world, client_factory):
    client = client_factory()
    token = suppression.unsubscribe_token("cn00000@example.com")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(f"/unsubscribe/{forged}").status_code == 403
    assert client.post(f"/unsubscribe/{forged}").status_code == 403
    # A token is bound to its address: it cannot be edited to name another.
    assert suppression.address_from_token(token) == "cn00000@example.com"
    with db.session_scope() as session:
        assert not suppression.is_suppressed(
            session, channel="email", address="cn00000@example.com"
        )
