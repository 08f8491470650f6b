"""Failed-login throttling, per username and per client address, with the `limits` library.

Only failures count. A throttled attempt is refused before its password is looked at, so a
flood of guesses costs no argon2 hashes. The counters live in the storage named by
``INCIDENT_CMD_LOGIN_THROTTLE_STORAGE``: ``memory://`` (the default) keeps them in the
process, which is exact for the embedded single-process server; with several API processes
each keeps its own (the allowance is multiplied by their number) unless they share a
``redis://`` storage (install ``limits[redis]``). The counters use the wall clock."""

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from incident_cmd.config import ConfigurationError, get_settings

# Longer names are no user's; keying on a prefix bounds what an attacker can make us store.
KEY_LENGTH = 64


class LoginThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Rule:
    name: str
    limit: RateLimitItem


class LoginThrottle:
    def __init__(self, *, storage_uri: str, per_username: str, per_address: str) -> None:
        try:
            self._rules = (
                _Rule("username", parse(per_username)),
                _Rule("address", parse(per_address)),
            )
            storage = storage_from_string(storage_uri)
        except (ValueError, LimitsConfigurationError) as exc:
            raise ConfigurationError(f"login throttle: {exc}") from exc
        self._limiter = MovingWindowRateLimiter(storage)

    @classmethod
    def from_settings(cls) -> "LoginThrottle":
        settings = get_settings()
        return cls(
            storage_uri=settings.login_throttle_storage,
            per_username=settings.login_throttle_per_username,
            per_address=settings.login_throttle_per_address,
        )

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        return (username.strip().lower()[:KEY_LENGTH], address)

    def check(self, *, username: str, address: str) -> None:
        """Raises LoginThrottled when either the username or the address is out of attempts."""
        waits = []
        for rule, key in zip(self._rules, self._keys(username, address), strict=True):
            if not self._limiter.test(rule.limit, "login", rule.name, key):
                reset_at = self._limiter.get_window_stats(
                    rule.limit, "login", rule.name, key
                ).reset_time
                waits.append(max(1, math.ceil(reset_at - time.time())))
        if waits:
            raise LoginThrottled(max(waits))

    def failed(self, *, username: str, address: str) -> None:
        for rule, key in zip(self._rules, self._keys(username, address), strict=True):
            self._limiter.hit(rule.limit, "login", rule.name, key)

    def succeeded(self, *, username: str) -> None:
        """A right password forgives the name its mistakes (not the address: one valid account
        must not reset an attacker's count)."""
        rule = self._rules[0]
        self._limiter.clear(rule.limit, "login", rule.name, self._keys(username, "")[0])
