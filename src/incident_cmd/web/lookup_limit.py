"""How often one client address may ask "is my product affected?": enough for a family's
appliances, too few to walk the batch numbers and map what the company has announced.

Fixed windows of the project's clock (``incident_cmd.clock``, so tests move time instead of
waiting): each address has ``LOOKUPS_PER_WINDOW`` lookups in each ``WINDOW``; at a window's
edge a client may get up to twice that in a short while. The counters are kept in the
storage the login throttle uses (``INCIDENT_CMD_LOGIN_THROTTLE_STORAGE``, through the
`limits` library): ``memory://`` counts in this process only, so with several API processes
each gives the allowance (multiplied by their number) unless they share a ``redis://``
storage."""

import math
import threading
from datetime import timedelta

from fastapi import Request
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.storage import Storage, storage_from_string

from incident_cmd import clock
from incident_cmd.config import ConfigurationError, get_settings

LOOKUPS_PER_WINDOW = 30
WINDOW = timedelta(minutes=10)


class LookupsExhausted(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many lookups; try again in {retry_after} seconds")
        self.retry_after = retry_after


class LookupLimit:
    def __init__(
        self,
        *,
        storage_uri: str,
        per_window: int = LOOKUPS_PER_WINDOW,
        window: timedelta = WINDOW,
    ) -> None:
        try:
            storage = storage_from_string(storage_uri)
        except LimitsConfigurationError as exc:
            raise ConfigurationError(f"status lookup limit: {exc}") from exc
        if not isinstance(storage, Storage):
            raise ConfigurationError(f"status lookup limit: {storage_uri} is asynchronous")
        self._storage = storage
        self.per_window = per_window
        self._seconds = int(window.total_seconds())

    @classmethod
    def from_settings(cls) -> "LookupLimit":
        return cls(storage_uri=get_settings().login_throttle_storage)

    def hit(self, address: str) -> None:
        """Counts a lookup; raises LookupsExhausted (with the seconds until the window ends)
        when the address has used its allowance."""
        now = clock.now().timestamp()
        window = math.floor(now / self._seconds)
        # The storage forgets a count after a window of wall time; the key names the window
        # of the project's clock, so a new window starts afresh whatever the storage keeps.
        count = self._storage.incr(f"status-lookup/{address}/{window}", expiry=self._seconds)
        if count > self.per_window:
            raise LookupsExhausted(max(1, math.ceil((window + 1) * self._seconds - now)))


_creating = threading.Lock()


def lookup_limit(request: Request) -> LookupLimit:
    """The application's lookup counters, made with its first lookup."""
    state = request.app.state
    with _creating:
        if getattr(state, "status_lookup_limit", None) is None:
            state.status_lookup_limit = LookupLimit.from_settings()
    return state.status_lookup_limit
