# test_webhooks.py and paging/test_answers.py still import these from here; the lead points
# them at tests.plugins and tests.factories.
from tests.factories import shanghai_customers  # noqa: F401
from tests.plugins.messaging import dispatch  # noqa: F401
from tests.plugins.twilio import PUBLIC, SENDER, signed  # noqa: F401
