"""A cheap, briefly cached answer to "does Temporal answer?" for health endpoints.

Each check connects with the Temporal SDK and calls the gRPC health service, bounded by a short timeout;
the answer is kept for ``ttl_s`` so that a health endpoint polled often does not open a connection per
request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from temporalio.client import Client


class TemporalProbe:
    """Tell whether the Temporal frontend at an address is reachable and serving.

    Args:
        address: ``host:port`` of the Temporal frontend.
        namespace: the namespace to connect with.
        timeout_s: the most one check may take.
        ttl_s: how long an answer is reused.
        clock: a monotonic clock in seconds (tests advance their own).
    """

    def __init__(
        self,
        address: str,
        namespace: str = "default",
        *,
        timeout_s: float = 1.0,
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout_s <= 0 or ttl_s < 0:
            raise ValueError(f"timeout_s must be > 0 and ttl_s >= 0 (got {timeout_s}, {ttl_s})")
        self.address = address
        self.namespace = namespace
        self.timeout_s = timeout_s
        self.ttl_s = ttl_s
        self._clock = clock
        self._answer: bool | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def reachable(self) -> bool:
        """Whether Temporal answered a health check, checking again only once the last answer expired.

        Returns:
            True when the frontend is serving.
        """
        async with self._lock:
            if self._answer is None or self._clock() - self._checked_at >= self.ttl_s:
                self._answer = await self._check()
                self._checked_at = self._clock()
            return self._answer

    async def _check(self) -> bool:
        try:
            return await asyncio.wait_for(self._connect_and_check(), self.timeout_s)
        except (asyncio.TimeoutError, RuntimeError, OSError):
            # RuntimeError is how the SDK reports a failed connection or RPC.
            return False

    async def _connect_and_check(self) -> bool:
        client = await Client.connect(self.address, namespace=self.namespace)
        return await client.service_client.check_health()
