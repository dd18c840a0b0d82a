"""Analytics over reports' machinery: customer value (RFM), forecast and trends. Each runs in SQL
through the query seam (as the viewer), except the RFM refresh, which stores scores once for
everyone (as roll-ups are) and is read back through the seam."""
from __future__ import annotations


class Analytics:
    """``rfm``, ``forecast`` and ``trend`` for the doors (``services.extensions["reports"].analytics``)."""

    def __init__(self, reports):
        from .forecast import Forecast
        from .rfm import Rfm
        from .trend import Trend

        self.reports = reports
        self.rfm = Rfm(reports)
        self.forecast = Forecast(reports)
        self.trend = Trend(reports)
