"""Logging in through the web form, with the CSRF token and Origin a browser would send."""

import re

PASSWORD = "a password long enough"
ORIGIN = {"Origin": "http://testserver"}


def csrf_token(client, path="/login"):
    """The hidden CSRF field of the form on ``path`` (the GET also sets its cookie)."""
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def login(client, username, password=PASSWORD):
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
        headers=ORIGIN,
        follow_redirects=False,
    )
