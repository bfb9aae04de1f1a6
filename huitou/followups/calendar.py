"""The contact plan's calendar: lunar dates, festivals, lunar birthdays and China's working days.

Pure Python (no Django import), so the planner, the API and the tests can all use it directly.

Lunar calendar
    Conversions come from ``lunar_python`` (an astronomical computation, offline, checked against
    an independent table for every lunar year 1950–2100 in the tests). One conversion there costs
    milliseconds, so each lunar year is computed once into a small table (its months: number, leap
    flag, length, solar date of day 1; ``lru_cache``) and every function here answers from those
    tables by bisection. After the first call for a year, calls take microseconds.

Festivals
    ``FESTIVALS`` maps a code to a :class:`Festival`. Lunar festivals fall in the ordinary (not the
    leap) month of that number. ``new_years_eve`` (除夕) is the day before the Spring Festival, i.e.
    the last day of the 12th lunar month, which is the 29th or the 30th. ``festival_date(code, y)``
    is the occurrence in solar year ``y``; every festival here occurs exactly once per solar year.

Lunar birthdays (and other yearly lunar dates)
    A date given as (lunar month, day, born in a leap month) is celebrated each lunar year:
    on day 30 of a month that has only 29 days that year -> on its day 29; born in a leap month ->
    in that leap month if the year has it, otherwise in the ordinary month of the same number;
    born in an ordinary month -> in the ordinary month only. One solar year holds parts of two
    lunar years, so a lunar date is celebrated 0, 1 or 2 times in it.

Working days and official holidays
    Official holidays and make-up working days (调休) come from the ``chinesecalendar`` package,
    which only knows the years the State Council has published (see :func:`official_years`;
    2004–2026 with chinesecalendar 1.11). For any other year the answer is an *estimate*, and
    :func:`holidays_source` says ``"estimated"``: Saturdays and Sundays are rest days, plus the
    statutory holidays computed from the current rules, which are

    - New Year's Day: 1 January;
    - Spring Festival: New Year's Eve and lunar 1/1, 1/2, 1/3;
    - Tomb-sweeping Day: the day of the Qingming solar term;
    - Labour Day: 1 and 2 May;
    - Dragon Boat Festival: lunar 5/5;
    - Mid-autumn Festival: lunar 8/15;
    - National Day: 1, 2 and 3 October;

    with no make-up working days and no shifting of holidays that fall on a weekend (the real
    schedule, published each winter for the next year, usually moves days around). Holiday names
    are chinesecalendar's English names.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from dataclasses import dataclass
from typing import Literal

import chinese_calendar
from lunar_python import Lunar, LunarYear

__all__ = [
    "FESTIVALS",
    "Festival",
    "LunarMonthInfo",
    "UnknownFestivalError",
    "add_working_days",
    "estimated_holidays",
    "festival_date",
    "festival_name",
    "festivals_between",
    "festivals_on",
    "format_lunar",
    "holiday_name",
    "holidays_source",
    "is_makeup_working_day",
    "is_rest_day",
    "is_working_day",
    "lunar_birthday_dates",
    "lunar_birthday_keys",
    "lunar_to_solar",
    "lunar_year_months",
    "next_working_day",
    "official_years",
    "qingming_date",
    "solar_anniversary",
    "solar_to_lunar",
    "working_days_between",
]

# ---------------------------------------------------------------------------------------------
# Festivals


@dataclass(frozen=True)
class Festival:
    """A yearly festival. For ``kind == "eve"`` month/day are nominal (12/30): the real day is the
    last day of the 12th lunar month, the day before the Spring Festival."""

    code: str
    kind: Literal["lunar", "solar", "eve"]
    month: int
    day: int
    name_en: str
    name_zh: str


FESTIVALS: dict[str, Festival] = {
    f.code: f
    for f in (
        Festival("spring", "lunar", 1, 1, "Spring Festival", "春节"),
        Festival("lantern", "lunar", 1, 15, "Lantern Festival", "元宵节"),
        Festival("dragon_boat", "lunar", 5, 5, "Dragon Boat Festival", "端午节"),
        Festival("qixi", "lunar", 7, 7, "Qixi Festival", "七夕"),
        Festival("mid_autumn", "lunar", 8, 15, "Mid-Autumn Festival", "中秋节"),
        Festival("double_ninth", "lunar", 9, 9, "Double Ninth Festival", "重阳节"),
        Festival("new_years_eve", "eve", 12, 30, "Chinese New Year's Eve", "除夕"),
        Festival("new_year", "solar", 1, 1, "New Year's Day", "元旦"),
        Festival("womens_day", "solar", 3, 8, "International Women's Day", "妇女节"),
        Festival("labour_day", "solar", 5, 1, "Labour Day", "劳动节"),
        Festival("teachers_day", "solar", 9, 10, "Teachers' Day", "教师节"),
        Festival("national_day", "solar", 10, 1, "National Day", "国庆节"),
    )
}

_FESTIVAL_ORDER = {code: i for i, code in enumerate(FESTIVALS)}


class UnknownFestivalError(KeyError, ValueError):
    """An unknown festival code (catchable as KeyError or ValueError)."""


def _festival(code: str) -> Festival:
    try:
        return FESTIVALS[code]
    except KeyError:
        raise UnknownFestivalError(f"unknown festival code {code!r}") from None


def festival_name(code: str, lang: str = "zh") -> str:
    """The festival's name in Chinese (``lang`` starting with "zh", the default) or English."""
    fest = _festival(code)
    return fest.name_zh if lang.lower().startswith("zh") else fest.name_en


# ---------------------------------------------------------------------------------------------
# Lunar year tables

# Julian day number (at noon) of the proleptic Gregorian ordinal 0.
_JD_ORDINAL_OFFSET = 1721425


def _date_from_jd(jd: float) -> dt.date:
    """The civil date (Beijing time, as lunar_python computes) of a Julian day."""
    return dt.date.fromordinal(int(jd + 0.5) - _JD_ORDINAL_OFFSET)


@dataclass(frozen=True)
class LunarMonthInfo:
    year: int  # lunar year
    month: int  # 1..12
    leap: bool
    days: int  # 29 or 30
    first: dt.date  # solar date of day 1

    @property
    def last(self) -> dt.date:
        return self.first + dt.timedelta(days=self.days - 1)


@dataclass(frozen=True)
class _LunarYearTable:
    year: int
    months: tuple[LunarMonthInfo, ...]
    starts: tuple[int, ...]  # ordinals of each month's day 1, ascending
    end: int  # ordinal of the first day of the next lunar year
    by_key: dict[tuple[int, bool], LunarMonthInfo]
    leap_month: int  # 0 if none


@functools.lru_cache(maxsize=512)
def _year_table(lunar_year: int) -> _LunarYearTable:
    months = tuple(
        LunarMonthInfo(
            year=lunar_year,
            month=abs(m.getMonth()),
            leap=m.isLeap(),
            days=m.getDayCount(),
            first=_date_from_jd(m.getFirstJulianDay()),
        )
        for m in LunarYear.fromYear(lunar_year).getMonthsInYear()
    )
    if not 12 <= len(months) <= 13 or months[0].month != 1 or months[0].leap:
        raise ValueError(f"lunar year {lunar_year} is outside what lunar_python computes reliably")
    last = months[-1]
    return _LunarYearTable(
        year=lunar_year,
        months=months,
        starts=tuple(m.first.toordinal() for m in months),
        end=last.first.toordinal() + last.days,
        by_key={(m.month, m.leap): m for m in months},
        leap_month=next((m.month for m in months if m.leap), 0),
    )


def lunar_year_months(lunar_year: int) -> tuple[LunarMonthInfo, ...]:
    """The months of a lunar year in order (12, or 13 with a leap month)."""
    return _year_table(lunar_year).months


def _locate(day: dt.date) -> tuple[_LunarYearTable, LunarMonthInfo, int]:
    ordinal = day.toordinal()
    table = _year_table(day.year)
    if ordinal < table.starts[0]:
        table = _year_table(day.year - 1)
    i = bisect.bisect_right(table.starts, ordinal) - 1
    month = table.months[i]
    return table, month, ordinal - table.starts[i] + 1


def solar_to_lunar(day: dt.date) -> tuple[int, int, int, bool]:
    """(lunar year, lunar month, lunar day, is_leap_month) of a solar date."""
    _table, month, lunar_day = _locate(day)
    return month.year, month.month, lunar_day, month.leap


def lunar_to_solar(lunar_year: int, month: int, day: int, leap: bool = False) -> dt.date:
    """The solar date of an exact lunar date; ValueError if that month or day does not exist."""
    info = _year_table(lunar_year).by_key.get((month, leap))
    if info is None or not 1 <= day <= info.days:
        raise ValueError(f"lunar date {lunar_year}/{'leap ' if leap else ''}{month}/{day} does not exist")
    return info.first + dt.timedelta(days=day - 1)


_ZH_MONTHS = ("正", "二", "三", "四", "五", "六", "七", "八", "九", "十", "冬", "腊")
_ZH_DIGITS = ("", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十")


def format_lunar(month: int, day: int, leap: bool = False, lang: str = "zh") -> str:
    """A lunar month/day for people: "闰六月初一" / "腊月三十"; in English "leap 6/1", "12/30"."""
    if not (1 <= month <= 12 and 1 <= day <= 30):
        raise ValueError(f"invalid lunar month/day {month}/{day}")
    if not lang.lower().startswith("zh"):
        return f"{'leap ' if leap else ''}{month}/{day}"
    if day <= 10:
        day_zh = "初" + _ZH_DIGITS[day]
    elif day < 20:
        day_zh = "十" + _ZH_DIGITS[day - 10]
    elif day == 20:
        day_zh = "二十"
    elif day < 30:
        day_zh = "廿" + _ZH_DIGITS[day - 20]
    else:
        day_zh = "三十"
    return f"{'闰' if leap else ''}{_ZH_MONTHS[month - 1]}月{day_zh}"


# ---------------------------------------------------------------------------------------------
# Festival dates


@functools.lru_cache(maxsize=512)
def _festivals_of_year(year: int) -> tuple[tuple[dt.date, str], ...]:
    table = _year_table(year)
    out: list[tuple[dt.date, str]] = []
    for code, fest in FESTIVALS.items():
        if fest.kind == "solar":
            day = dt.date(year, fest.month, fest.day)
        elif fest.kind == "lunar":
            day = table.by_key[(fest.month, False)].first + dt.timedelta(days=fest.day - 1)
        else:  # the eve: the day before lunar 1/1, which always falls in the same solar year
            day = table.months[0].first - dt.timedelta(days=1)
        out.append((day, code))
    out.sort(key=lambda item: (item[0], _FESTIVAL_ORDER[item[1]]))
    return tuple(out)


@functools.lru_cache(maxsize=512)
def _festival_index(year: int) -> tuple[dict[str, dt.date], dict[dt.date, tuple[str, ...]]]:
    by_code: dict[str, dt.date] = {}
    by_day: dict[dt.date, list[str]] = {}
    for day, code in _festivals_of_year(year):
        by_code[code] = day
        by_day.setdefault(day, []).append(code)
    return by_code, {day: tuple(codes) for day, codes in by_day.items()}


def festival_date(code: str, year: int) -> dt.date:
    """The solar date of festival ``code`` in solar year ``year``."""
    _festival(code)
    return _festival_index(year)[0][code]


def festivals_on(day: dt.date) -> list[str]:
    """Codes of the festivals falling on ``day`` (in FESTIVALS order)."""
    return list(_festival_index(day.year)[1].get(day, ()))


def festivals_between(start: dt.date, end: dt.date) -> list[tuple[dt.date, str]]:
    """(date, code) of every festival with start <= date <= end (both inclusive), by date."""
    out: list[tuple[dt.date, str]] = []
    for year in range(start.year, end.year + 1):
        out.extend(item for item in _festivals_of_year(year) if start <= item[0] <= end)
    return out


# ---------------------------------------------------------------------------------------------
# Yearly dates: lunar birthdays and solar anniversaries


def _check_lunar_key(month: int, day: int) -> None:
    if not (1 <= month <= 12 and 1 <= day <= 30):
        raise ValueError(f"invalid lunar month/day {month}/{day}")


def _celebrated_in(lunar_year: int, month: int, day: int, leap: bool) -> dt.date:
    table = _year_table(lunar_year)
    info = table.by_key.get((month, True)) if leap else None
    if info is None:
        info = table.by_key[(month, False)]
    return info.first + dt.timedelta(days=min(day, info.days) - 1)


def lunar_birthday_dates(month: int, day: int, leap: bool, solar_year: int) -> list[dt.date]:
    """Solar dates in ``solar_year`` on which the lunar date (month, day, leap) is celebrated
    (0, 1 or 2 dates, ascending). The rules are in the module docstring."""
    _check_lunar_key(month, day)
    dates = (_celebrated_in(y, month, day, leap) for y in (solar_year - 1, solar_year))
    return [d for d in dates if d.year == solar_year]


def lunar_birthday_keys(day: dt.date) -> list[tuple[int, int, bool]]:
    """Every (lunar_month, lunar_day, born_in_leap_month) celebrated on ``day``: the inverse of
    :func:`lunar_birthday_dates`."""
    table, month, lunar_day = _locate(day)
    days = [lunar_day]
    if lunar_day == 29 and month.days == 29:
        days.append(30)
    # An ordinary month also hosts the leap-born of its number when the year has no such leap month.
    leaps = (True,) if month.leap else (False,) if table.leap_month == month.month else (False, True)
    return [(month.month, d, leap) for leap in leaps for d in days]


def solar_anniversary(month: int, day: int, year: int) -> dt.date:
    """The date of a yearly solar date in ``year``; 29 February becomes 28 February in common years."""
    if month == 2 and day == 29 and not _is_leap_year(year):
        return dt.date(year, 2, 28)
    return dt.date(year, month, day)


def _is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# ---------------------------------------------------------------------------------------------
# Working days and official holidays

_OFFICIAL_FIRST = min(chinese_calendar.holidays).year
_OFFICIAL_LAST = max(chinese_calendar.holidays).year


def official_years() -> tuple[int, int]:
    """(first, last) year whose official schedule the installed chinesecalendar knows."""
    return _OFFICIAL_FIRST, _OFFICIAL_LAST


def holidays_source(year: int) -> Literal["official", "estimated"]:
    return "official" if _OFFICIAL_FIRST <= year <= _OFFICIAL_LAST else "estimated"


def qingming_date(year: int) -> dt.date:
    """The day (Beijing time) of the Qingming solar term in solar year ``year``."""
    names = Lunar.JIE_QI_IN_USE
    jds = LunarYear.fromYear(year).getJieQiJulianDays()
    return _date_from_jd(jds[names.index("清明")])


@functools.lru_cache(maxsize=256)
def _estimated_holidays(year: int) -> dict[dt.date, str]:
    """Statutory holidays of ``year`` by the current rules (see the module docstring)."""
    one = dt.timedelta(days=1)
    spring = festival_date("spring", year)
    days: list[tuple[dt.date, str]] = [
        (dt.date(year, 1, 1), "New Year's Day"),
        *((spring + k * one, "Spring Festival") for k in (-1, 0, 1, 2)),
        (qingming_date(year), "Tomb-sweeping Day"),
        (dt.date(year, 5, 1), "Labour Day"),
        (dt.date(year, 5, 2), "Labour Day"),
        (festival_date("dragon_boat", year), "Dragon Boat Festival"),
        (festival_date("mid_autumn", year), "Mid-autumn Festival"),
        *((dt.date(year, 10, d), "National Day") for d in (1, 2, 3)),
    ]
    out: dict[dt.date, str] = {}
    for day, name in days:
        out.setdefault(day, name)  # Mid-Autumn on 1–3 October keeps the National Day name
    return out


def estimated_holidays(year: int) -> dict[dt.date, str]:
    """The statutory holidays of ``year`` by the current rules, as used for years chinesecalendar does
    not know (date -> English name). For known years this is a rough guess, not the schedule."""
    return dict(_estimated_holidays(year))


@functools.lru_cache(maxsize=256)
def _year_working(year: int) -> tuple[bytes, tuple[int, ...]]:
    """Per day of ``year`` (index = day of year - 1): 1 if a working day; and prefix counts
    (``prefix[i]`` = working days among the first ``i`` days)."""
    first = dt.date(year, 1, 1)
    n = (dt.date(year + 1, 1, 1) - first).days
    official = holidays_source(year) == "official"
    estimated = {} if official else _estimated_holidays(year)
    flags = bytearray(n)
    for i in range(n):
        day = first + dt.timedelta(days=i)
        if official:
            flags[i] = chinese_calendar.is_workday(day)
        else:
            flags[i] = day.weekday() < 5 and day not in estimated
    prefix = [0]
    for f in flags:
        prefix.append(prefix[-1] + f)
    return bytes(flags), tuple(prefix)


def is_working_day(day: dt.date) -> bool:
    return bool(_year_working(day.year)[0][day.timetuple().tm_yday - 1])


def is_rest_day(day: dt.date) -> bool:
    return not is_working_day(day)


def is_makeup_working_day(day: dt.date) -> bool:
    """A Saturday or Sunday that is an official working day (调休上班). Never in estimated years."""
    return day.weekday() >= 5 and is_working_day(day)


def holiday_name(day: dt.date) -> str | None:
    """The English name of the statutory holiday ``day`` is a rest day of (weekend days folded into
    the holiday included), or None. Make-up working days are not holidays: None."""
    if holidays_source(day.year) == "official":
        name = chinese_calendar.holidays.get(day)
        return str(name) if name is not None else None
    return _estimated_holidays(day.year).get(day)


def next_working_day(day: dt.date, *, include_self: bool = True) -> dt.date:
    """The first working day on or after ``day`` (strictly after it with include_self=False)."""
    d = day if include_self else day + dt.timedelta(days=1)
    while not is_working_day(d):
        d += dt.timedelta(days=1)
    return d


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The n-th working day after ``day`` (``day`` itself not counted, so Friday + 1 is Monday in
    an ordinary week and working_days_between(day, result) == n); n=0 -> next_working_day(day)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if n == 0:
        return next_working_day(day)
    d = day
    for _ in range(n):
        d = next_working_day(d, include_self=False)
    return d


def _working_days_upto(day: dt.date) -> int:
    """Working days from 1 January of day's year through ``day`` (inclusive)."""
    return _year_working(day.year)[1][day.timetuple().tm_yday]


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days in (start, end]; negative (minus the count in (end, start]) if end < start."""
    if end < start:
        return -working_days_between(end, start)
    total = 0
    for year in range(start.year, end.year):
        total += _year_working(year)[1][-1]
    return total + _working_days_upto(end) - _working_days_upto(start)
