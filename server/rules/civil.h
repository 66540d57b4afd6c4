/* civil.h - proleptic Gregorian calendar arithmetic on day numbers.
 *
 * Day 0 is 1970-01-01. Everything here is exact integer arithmetic, valid
 * far beyond any date a rule can meet, and independent of the C library's
 * time functions (which consult global time zone state). */
#ifndef BK_RULES_CIVIL_H
#define BK_RULES_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

#define BK_SECONDS_PER_DAY 86400
#define BK_MS_PER_SECOND 1000
#define BK_MS_PER_DAY 86400000LL

/* Rounds toward negative infinity, unlike C's '/'. */
static inline int64_t bk_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static inline int64_t bk_floor_mod(int64_t a, int64_t b)
{
    return a - bk_floor_div(a, b) * b;
}

static inline bool bk_is_leap_year(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Leap years in [1, year). */
static inline int64_t bk_leap_years_before(int64_t year)
{
    int64_t y = year - 1;
    return bk_floor_div(y, 4) - bk_floor_div(y, 100) + bk_floor_div(y, 400);
}

static inline int bk_days_in_month(int64_t year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && bk_is_leap_year(year) ? 29 : days[month - 1];
}

/* Day number of year-month-day (month 1..12, day 1..31). */
static inline int64_t bk_days_from_civil(int64_t year, int month, int day)
{
    static const int before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t days = 365 * (year - 1970) + bk_leap_years_before(year) - bk_leap_years_before(1970);
    days += before_month[month - 1] + (month > 2 && bk_is_leap_year(year)) + day - 1;
    return days;
}

/* The year containing day number `days`. */
static inline int64_t bk_year_of_day(int64_t days)
{
    /* 146097 days per 400 years gives an estimate at most one year off. */
    int64_t year = 1970 + bk_floor_div(days * 400, 146097);
    while (bk_days_from_civil(year, 1, 1) > days)
        year--;
    while (bk_days_from_civil(year + 1, 1, 1) <= days)
        year++;
    return year;
}

/* Day of the week of a day number, Monday = 0 ... Sunday = 6
 * (1970-01-01 was a Thursday). */
static inline int bk_weekday_of_day(int64_t days)
{
    return (int)bk_floor_mod(days + 3, 7);
}

#endif
