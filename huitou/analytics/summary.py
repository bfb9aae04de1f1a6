"""Turn raw purchases into the (frequency, recency, T, monetary value) summary of BTYD models."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class PurchaseSummary(NamedTuple):
    """One row per customer, sorted by customer id.

    frequency: repeat purchase days (distinct purchase days minus one);
    recency: time from the first to the last purchase day; T: time from the first purchase day
    to the end of observation; monetary_value: mean total of the repeat purchase days (the first
    day excluded), 0 for customers without a repeat purchase. Times are in units of freq_days.
    """

    customer_ids: npt.NDArray[np.generic]
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary_value: FloatArray


def summary_from_transactions(
    customer_ids: npt.ArrayLike,
    dates: npt.ArrayLike,
    amounts: npt.ArrayLike,
    observation_end: np.datetime64 | date | str,
    freq_days: int = 1,
) -> PurchaseSummary:
    """Summarise purchases made on or before `observation_end`; later purchases are ignored.

    Several purchases on one day count as one purchase occasion whose value is their sum, as in
    the literature (CDNOW) and in lifetimes' summary_data_from_transaction_data.
    """
    if freq_days <= 0:
        raise ValueError("freq_days must be positive")
    ids = np.asarray(customer_ids)
    days = np.asarray(dates).astype("datetime64[D]").astype(np.int64)
    values = np.asarray(amounts, dtype=np.float64)
    if not (ids.shape == days.shape == values.shape) or ids.ndim != 1:
        raise ValueError("customer_ids, dates and amounts must be 1-D arrays of the same length")
    end = int(np.array(observation_end, dtype="datetime64[D]").astype(np.int64))
    keep = days <= end
    ids, days, values = ids[keep], days[keep], values[keep]

    unique_ids, customer = np.unique(ids, return_inverse=True)
    customer = customer.ravel().astype(np.int64)
    if len(unique_ids) == 0:
        empty = np.zeros(0, dtype=np.float64)
        return PurchaseSummary(unique_ids, empty, empty.copy(), empty.copy(), empty.copy())
    first_day = int(days.min())
    span = int(days.max()) - first_day + 1
    # One key per (customer, day); sorted keys group a customer's days in date order.
    key = customer * span + (days - first_day)
    day_keys, day_index = np.unique(key, return_inverse=True)
    day_total = np.bincount(day_index.ravel(), weights=values, minlength=len(day_keys))
    day_customer = day_keys // span
    day_value = day_keys % span + first_day

    n_days = np.bincount(day_customer, minlength=len(unique_ids))
    last = np.cumsum(n_days) - 1
    first = last - n_days + 1
    first_purchase = day_value[first]
    last_purchase = day_value[last]
    spend = np.bincount(day_customer, weights=day_total, minlength=len(unique_ids))

    frequency = (n_days - 1).astype(np.float64)
    recency = (last_purchase - first_purchase).astype(np.float64) / freq_days
    T = (end - first_purchase).astype(np.float64) / freq_days
    repeat_spend = spend - day_total[first]
    monetary = np.divide(repeat_spend, frequency, out=np.zeros_like(repeat_spend), where=frequency > 0)
    return PurchaseSummary(unique_ids, frequency, recency, T, monetary)
