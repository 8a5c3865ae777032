"""A per-user limit on runs that are pending or running (``auth.max_runs_per_user``).

One user must not take every execution slot of a shared server. Each run a
user creates holds a ``Reservation`` from the moment it is admitted (before
its record exists, so two concurrent requests cannot both slip under the
limit) until it ends. A reservation is either a count held by code (a batch
waiting for its items) or bound to run ids, which count while the run
manager still runs them (``is_active``): nothing has to remember to give a
finished run's place back. Beyond the limit: 429 with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from app.errors import TooManyRuns

__all__ = ["RETRY_AFTER_S", "Reservation", "RunLimiter"]

# Runs end at their own pace; a second is a polite first retry.
RETRY_AFTER_S = 1


@dataclass
class Reservation:
    count: int
    is_active: Callable[[str], bool]
    run_ids: list[str] | None = None  # set once bound
    released: bool = False

    def weight(self) -> int:
        if self.released:
            return 0
        if self.run_ids is None:
            return self.count
        return sum(1 for run_id in self.run_ids if self.is_active(run_id))

    def bind(self, run_ids: Iterable[str]) -> None:
        """From now on, hold a place per run id until that run ends."""
        self.run_ids = list(run_ids)

    def release(self) -> None:
        self.released = True


@dataclass
class RunLimiter:
    limit: int | None
    _held: dict[str, list[Reservation]] = field(default_factory=dict)

    def active(self, identity: str) -> int:
        held = [r for r in self._held.get(identity, ()) if r.weight()]
        if held:
            self._held[identity] = held
        else:
            self._held.pop(identity, None)
        return sum(r.weight() for r in held)

    def reserve(
        self, identity: str | None, count: int, is_active: Callable[[str], bool]
    ) -> Reservation:
        """Hold ``count`` places for ``identity`` or raise ``TooManyRuns``.

        Synchronous on purpose: no other request can run between the check
        and the hold.
        """
        reservation = Reservation(count, is_active)
        if self.limit is None or identity is None:
            return reservation
        active = self.active(identity)
        if active + count > self.limit:
            raise TooManyRuns(
                f"{active} of your runs are pending or running and this asks for {count} more; "
                f"the limit is {self.limit} per user, retry when some have ended",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self._held.setdefault(identity, []).append(reservation)
        return reservation
