"""A Twilio-compatible server for development, tests and benchmarks.

It speaks the Messages and Calls resources of the 2010-04-01 REST API (the contract is in
``shared/reference/twilio``): basic auth, SIDs, listing by recipient, signed status
callbacks, configurable latency and fault injection. Everything is kept in memory."""

import asyncio
import base64
import contextlib
import random
import secrets
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from twilio.request_validator import RequestValidator

from incident_cmd import aio

API = "/2010-04-01/Accounts/{account}"
# Codes Twilio returns when the message is refused at creation, and those it reports later in
# a status callback as undelivered.
CREATE_ERRORS = {21211, 21606, 21610, 21612, 21614}
MESSAGE_PARAMS = {
    "To",
    "StatusCallback",
    "ApplicationSid",
    "MaxPrice",
    "ProvideFeedback",
    "Attempt",
    "ValidityPeriod",
    "ForceDelivery",
    "ContentRetention",
    "AddressRetention",
    "SmartEncoded",
    "PersistentAction",
    "TrafficType",
    "ShortenUrls",
    "ScheduleType",
    "SendAt",
    "SendAsMms",
    "ContentVariables",
    "RiskCheck",
    "From",
    "FallbackFrom",
    "MessagingServiceSid",
    "Body",
    "MediaUrl",
    "ContentSid",
}
CALL_REQUIRED = {"To", "From"}


@dataclass
class Faults:
    """Shares of requests answered with a fault, and per-number permanent errors."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    timeout_seconds: float = 30.0
    error_numbers: dict[str, int] = field(default_factory=dict)
    # Listing (the lookup a sender makes after a lost answer) answers 503.
    lookups_unavailable: bool = False
    # Seed it for a test that must see each fault: the rolls are then the same every run.
    rolls: random.Random = field(default_factory=random.Random)


@dataclass
class FakeTwilioState:
    account_sid: str
    auth_token: str
    latency: float = 0.0
    callbacks: bool = True
    callback_delay: float = 0.05
    faults: Faults = field(default_factory=Faults)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_recipient: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    requests: list[dict[str, str]] = field(default_factory=list)
    keep_requests: bool = True
    answered: Counter = field(default_factory=Counter)
    created_times: list[float] = field(default_factory=list)
    # When each message's request reached the server (epoch seconds), before any latency.
    arrivals: dict[str, float] = field(default_factory=dict)


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment, usegmt=False).replace("-0000", "+0000")


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def sms_segments(body: str) -> int:
    units = len(body.encode("utf-16-le")) // 2
    if body.isascii():
        return 1 if len(body) <= 160 else -(-len(body) // 153)
    return 1 if units <= 70 else -(-units // 67)


class FakeTwilio:
    def __init__(
        self,
        *,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "fake-token",
        latency: float = 0.0,
        callbacks: bool = True,
    ) -> None:
        self.state = FakeTwilioState(account_sid, auth_token, latency, callbacks)
        self._callback_session: ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()

    # --- the application -----------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        base = API.format(account="{account}")
        app.router.add_post(f"{base}/Messages.json", self.create_message)
        app.router.add_get(f"{base}/Messages.json", self.list_messages)
        app.router.add_get(f"{base}/Messages/{{sid}}.json", self.fetch_message)
        app.router.add_post(f"{base}/Calls.json", self.create_call)
        app.router.add_get(f"{base}/Calls.json", self.list_calls)
        app.router.add_get(f"{base}/Calls/{{sid}}.json", self.fetch_call)
        app.router.add_get("/_fake/messages", self.dump_messages)
        app.router.add_post("/_fake/faults", self.set_faults)
        app.router.add_post("/_fake/reset", self.reset)
        app.on_cleanup.append(self._cleanup)
        return app

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (
            user == self.state.account_sid
            and password == self.state.auth_token
            and request.match_info["account"] == user
        )

    async def _common(self, request: web.Request) -> web.Response | None:
        if not self._authorised(request):
            return _error(401, 20003, "Authentication Error - invalid username")
        if self.state.latency:
            await asyncio.sleep(self.state.latency)
        return None

    async def create_message(self, request: web.Request) -> web.StreamResponse:
        arrived = time.time()
        if (refused := await self._common(request)) is not None:
            return refused
        form = {key: str(value) for key, value in (await request.post()).items()}
        if self.state.keep_requests:
            self.state.requests.append(form)
        unknown = set(form) - MESSAGE_PARAMS
        if unknown:
            return _error(400, 20001, f"Unknown parameters: {', '.join(sorted(unknown))}")
        if "To" not in form:
            return _error(400, 21604, "A 'To' phone number is required.")
        if "From" not in form and "MessagingServiceSid" not in form:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body") and "MediaUrl" not in form and "ContentSid" not in form:
            return _error(400, 21602, "Message body is required.")
        if len(form.get("Body", "")) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds 1600 characters.")
        faults = self.state.faults
        code = faults.error_numbers.get(form["To"])
        if code in CREATE_ERRORS:
            self.state.answered["permanent"] += 1
            return _error(400, code, f"Refused for {form['To']} (fault injection)")
        roll = faults.rolls.random()
        if roll < faults.rate_429:
            self.state.answered["429"] += 1
            return _error(429, 20429, "Too Many Requests")
        if roll < faults.rate_429 + faults.rate_500:
            self.state.answered["500"] += 1
            return _error(500, 20500, "Internal Server Error")
        message = self._store_message(request, form, arrived)
        if roll < faults.rate_429 + faults.rate_500 + faults.rate_timeout:
            # The message exists, but the answer comes too late for the client.
            self.state.answered["timeout"] += 1
            await asyncio.sleep(faults.timeout_seconds)
        self.state.answered["201"] += 1
        if form.get("StatusCallback") and self.state.callbacks:
            final = ("undelivered", code) if code else ("delivered", None)
            self._spawn(self._callbacks(message["sid"], form["StatusCallback"], final))
        return web.json_response(message, status=201)

    def _store_message(
        self, request: web.Request, form: dict[str, str], arrived: float
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        sid = _sid("SM")
        account = request.match_info["account"]
        message = {
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": _rfc2822(now),
            "date_sent": None,
            "date_updated": _rfc2822(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(sms_segments(form.get("Body", ""))),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if "From" in form else "accepted",
            "subresource_uris": {
                "media": f"{API.format(account=account)}/Messages/{sid}/Media.json"
            },
            "to": form["To"],
            "uri": f"{API.format(account=account)}/Messages/{sid}.json",
        }
        self.state.messages[sid] = message
        self.state.by_recipient[form["To"]].append(sid)
        self.state.created_times.append(arrived)
        self.state.arrivals[sid] = arrived
        return message

    async def _callbacks(self, sid: str, url: str, final: tuple[str, int | None]) -> None:
        validator = RequestValidator(self.state.auth_token)
        for status, code in (("sent", None), final):
            await asyncio.sleep(self.state.callback_delay)
            message = self.state.messages[sid]
            message["status"] = status
            if status == "sent":
                message["date_sent"] = _rfc2822(datetime.now(UTC))
            if code:
                message["error_code"] = code
            params = {
                "MessageSid": sid,
                "MessageStatus": status,
                "AccountSid": self.state.account_sid,
                "To": message["to"],
                "From": message["from"] or "",
                "ErrorCode": str(code) if code else "",
            }
            signature = validator.compute_signature(url, params)
            with contextlib.suppress(Exception):  # an unreachable callback URL is not our fault
                async with self._session().post(
                    url, data=params, headers={"X-Twilio-Signature": signature}
                ) as response:
                    await response.read()

    def _session(self) -> ClientSession:
        if self._callback_session is None:
            self._callback_session = ClientSession(timeout=ClientTimeout(total=10))
        return self._callback_session

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cleanup(self, _: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._callback_session is not None:
            await self._callback_session.close()

    def _page(self, request: web.Request, key: str, items: list[dict[str, Any]]) -> web.Response:
        size = int(request.query.get("PageSize", 50))
        page = int(request.query.get("Page", 0))
        chunk = items[page * size : (page + 1) * size]
        path = request.path
        query = f"PageSize={size}"
        more = len(items) > (page + 1) * size
        return web.json_response(
            {
                key: chunk,
                "end": page * size + max(len(chunk) - 1, 0),
                "first_page_uri": f"{path}?{query}&Page=0",
                "next_page_uri": f"{path}?{query}&Page={page + 1}" if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": f"{path}?{query}&Page={page - 1}" if page else None,
                "start": page * size,
                "uri": f"{path}?{query}&Page={page}",
            }
        )

    async def list_messages(self, request: web.Request) -> web.Response:
        if (refused := await self._common(request)) is not None:
            return refused
        if self.state.faults.lookups_unavailable:
            return _error(503, 20503, "Service unavailable")
        to = request.query.get("To")
        sids = self.state.by_recipient.get(to, []) if to else list(self.state.messages)
        items = [self.state.messages[sid] for sid in sids]
        return self._page(request, "messages", items)

    async def fetch_message(self, request: web.Request) -> web.Response:
        if (refused := await self._common(request)) is not None:
            return refused
        message = self.state.messages.get(request.match_info["sid"])
        if message is None:
            return _error(404, 20404, "The requested resource was not found")
        return web.json_response(message)

    async def create_call(self, request: web.Request) -> web.Response:
        if (refused := await self._common(request)) is not None:
            return refused
        form = {key: str(value) for key, value in (await request.post()).items()}
        if self.state.keep_requests:
            self.state.requests.append(form)
        missing = CALL_REQUIRED - set(form)
        if missing:
            return _error(400, 21201, f"Missing parameters: {', '.join(sorted(missing))}")
        if not ({"Url", "Twiml", "ApplicationSid"} & set(form)):
            return _error(400, 21205, "Url, Twiml or ApplicationSid is required.")
        now = datetime.now(UTC)
        sid = _sid("CA")
        account = request.match_info["account"]
        call: dict[str, Any] = {
            "sid": sid,
            "account_sid": account,
            "api_version": "2010-04-01",
            "date_created": _rfc2822(now),
            "date_updated": _rfc2822(now),
            "direction": "outbound-api",
            "from": form["From"],
            "from_formatted": form["From"],
            "to": form["To"],
            "to_formatted": form["To"],
            "status": "queued",
            "start_time": None,
            "end_time": None,
            "duration": None,
            "price": None,
            "price_unit": "USD",
            "answered_by": None,
            "caller_name": None,
            "forwarded_from": None,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": f"{API.format(account=account)}/Calls/{sid}.json",
            "subresource_uris": {},
            "twiml": form.get("Twiml"),
        }
        self.state.calls[sid] = call
        return web.json_response(call, status=201)

    async def list_calls(self, request: web.Request) -> web.Response:
        if (refused := await self._common(request)) is not None:
            return refused
        to = request.query.get("To")
        items = [call for call in self.state.calls.values() if not to or call["to"] == to]
        return self._page(request, "calls", items)

    async def fetch_call(self, request: web.Request) -> web.Response:
        if (refused := await self._common(request)) is not None:
            return refused
        call = self.state.calls.get(request.match_info["sid"])
        if call is None:
            return _error(404, 20404, "The requested resource was not found")
        return web.json_response(call)

    async def dump_messages(self, request: web.Request) -> web.Response:
        to = request.query.get("To")
        items = [
            message for message in self.state.messages.values() if not to or message["to"] == to
        ]
        return web.json_response(
            {
                "messages": items if request.query.get("full", "1") == "1" else [],
                "count": len(items),
                "recipients": len({item["to"] for item in items}),
                "created_times": self.state.created_times,
                "arrivals": {item["sid"]: self.state.arrivals[item["sid"]] for item in items}
                if to
                else {},
                "answered": dict(self.state.answered),
            }
        )

    async def reset(self, request: web.Request) -> web.Response:
        self.state.messages.clear()
        self.state.by_recipient.clear()
        self.state.requests.clear()
        self.state.created_times.clear()
        self.state.arrivals.clear()
        self.state.answered.clear()
        self.state.keep_requests = request.query.get("keep_requests", "1") == "1"
        return web.json_response({"ok": True})

    async def set_faults(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.state.faults = Faults(**body)
        return web.json_response({"ok": True})

    # --- running it ----------------------------------------------------------------------

    def counts_by_recipient(self) -> Counter:
        return Counter(message["to"] for message in list(self.state.messages.values()))


class RunningFake:
    """The fake server on its own event loop in a background thread (tests, benchmarks)."""

    def __init__(self, fake: FakeTwilio, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.fake.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}"

    def __enter__(self) -> "RunningFake":
        self._thread.start()
        self._ready.wait(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        if self._runner is not None:
            cleanup = self._runner.cleanup()
            asyncio.run_coroutine_threadsafe(cleanup, self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def serve(host: str, port: int, fake: FakeTwilio) -> None:
    async def main() -> None:
        runner = web.AppRunner(fake.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        aio.run(main())
