"""The age of each sampled node relative to its seed's anchor time, as a learned embedding.

``age = anchor - node time`` (never negative: the sampler only reaches nodes no newer than the anchor; a seed
newer than its own anchor is clamped to 0). It is described by a log-scaled magnitude (``log1p`` of hours,
so minutes and years both get resolution) and sines and cosines over periods from an hour to four years
(recency and periodicity), then mapped linearly to ``channels``. Nodes of static tables (no time) get a
learned vector of their own instead.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["RelativeTimeEncoder", "age_features", "PERIODS"]

_HOUR = 3_600.0
#: Periods (seconds) of the sinusoidal features: 1 h, 6 h, 1 d, 1 w, 30 d, 91 d, 1 y, 4 y.
PERIODS = tuple(p * _HOUR for p in (1, 6, 24, 24 * 7, 24 * 30, 24 * 91, 24 * 365, 24 * 1461))
_LOG_SCALE = math.log1p(24 * 365 * 10)


def age_features(age_seconds: Tensor) -> Tensor:
    """Features of ages in seconds: ``[log1p(hours) / log1p(10 years in hours), sin, cos per period]``.

    Args:
        age_seconds: ages (any integer or float dtype), negative values clamped to 0.

    Returns:
        float32 ``[..., 1 + 2 * len(PERIODS)]``.
    """
    age = age_seconds.to(torch.float64).clamp(min=0.0)
    periods = torch.tensor(PERIODS, dtype=torch.float64, device=age.device)
    phase = 2 * math.pi * age.unsqueeze(-1) / periods
    log_age = torch.log1p(age / _HOUR).unsqueeze(-1) / _LOG_SCALE
    return torch.cat([log_age, torch.sin(phase), torch.cos(phase)], dim=-1).to(torch.float32)


class RelativeTimeEncoder(nn.Module):
    """Embeds node ages relative to the seed's anchor time.

    Args:
        channels: output width.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(1 + 2 * len(PERIODS), channels)
        self.static = nn.Parameter(torch.zeros(channels))

    def forward(self, anchor: Tensor, time: Tensor | None) -> Tensor:
        """Args:
            anchor: int64 [n] the anchor time of each node's seed.
            time: int64 [n] node times, or None for a static table.

        Returns:
            float [n, channels].
        """
        if time is None:
            return self.static.expand(anchor.numel(), -1)
        return self.linear(age_features(anchor - time))
