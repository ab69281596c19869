/*
 * plat_win32_tz.c — the host's time zone on Windows (plat.h:
 * plat_timezone_name, plat_timezone_rule).
 *
 * The name reported to the server is IANA: the Windows zone key
 * ("W. Europe Standard Time", from GetDynamicTimeZoneInformation) is mapped
 * with the table below (CLDR windowsZones, territory "001", for the zones
 * in common use).  A zone not in the table reports no name (the server then
 * treats the host as UTC for display) — never the Windows name, which no
 * IANA consumer understands.  Windows has no zoneinfo database, so the
 * agent's own schedule evaluation uses plat_timezone_rule(): the current
 * zone's offsets and DST transitions from GetTimeZoneInformation written as
 * a POSIX TZ rule, which tz.c evaluates.  Main thread.
 */
#include <windows.h>

#include "agent/plat.h"
#include "common/plat_win32.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const struct {
	const char *win, *iana;
} zones[] = {
	{"Dateline Standard Time", "Etc/GMT+12"},
	{"UTC-11", "Etc/GMT+11"},
	{"Hawaiian Standard Time", "Pacific/Honolulu"},
	{"Alaskan Standard Time", "America/Anchorage"},
	{"Pacific Standard Time (Mexico)", "America/Tijuana"},
	{"Pacific Standard Time", "America/Los_Angeles"},
	{"US Mountain Standard Time", "America/Phoenix"},
	{"Mountain Standard Time (Mexico)", "America/Mazatlan"},
	{"Mountain Standard Time", "America/Denver"},
	{"Central America Standard Time", "America/Guatemala"},
	{"Central Standard Time", "America/Chicago"},
	{"Central Standard Time (Mexico)", "America/Mexico_City"},
	{"Canada Central Standard Time", "America/Regina"},
	{"SA Pacific Standard Time", "America/Bogota"},
	{"Eastern Standard Time", "America/New_York"},
	{"Eastern Standard Time (Mexico)", "America/Cancun"},
	{"US Eastern Standard Time", "America/Indiana/Indianapolis"},
	{"Venezuela Standard Time", "America/Caracas"},
	{"Atlantic Standard Time", "America/Halifax"},
	{"SA Western Standard Time", "America/La_Paz"},
	{"Pacific SA Standard Time", "America/Santiago"},
	{"Newfoundland Standard Time", "America/St_Johns"},
	{"E. South America Standard Time", "America/Sao_Paulo"},
	{"Argentina Standard Time", "America/Argentina/Buenos_Aires"},
	{"SA Eastern Standard Time", "America/Cayenne"},
	{"Greenland Standard Time", "America/Nuuk"},
	{"Montevideo Standard Time", "America/Montevideo"},
	{"UTC-02", "Etc/GMT+2"},
	{"Azores Standard Time", "Atlantic/Azores"},
	{"Cape Verde Standard Time", "Atlantic/Cape_Verde"},
	{"UTC", "Etc/UTC"},
	{"Coordinated Universal Time", "Etc/UTC"},
	{"GMT Standard Time", "Europe/London"},
	{"Greenwich Standard Time", "Atlantic/Reykjavik"},
	{"Morocco Standard Time", "Africa/Casablanca"},
	{"W. Europe Standard Time", "Europe/Berlin"},
	{"Central Europe Standard Time", "Europe/Budapest"},
	{"Romance Standard Time", "Europe/Paris"},
	{"Central European Standard Time", "Europe/Warsaw"},
	{"W. Central Africa Standard Time", "Africa/Lagos"},
	{"GTB Standard Time", "Europe/Bucharest"},
	{"E. Europe Standard Time", "Europe/Chisinau"},
	{"FLE Standard Time", "Europe/Kiev"},
	{"Israel Standard Time", "Asia/Jerusalem"},
	{"Egypt Standard Time", "Africa/Cairo"},
	{"South Africa Standard Time", "Africa/Johannesburg"},
	{"Kaliningrad Standard Time", "Europe/Kaliningrad"},
	{"Jordan Standard Time", "Asia/Amman"},
	{"Middle East Standard Time", "Asia/Beirut"},
	{"Syria Standard Time", "Asia/Damascus"},
	{"Turkey Standard Time", "Europe/Istanbul"},
	{"Arabic Standard Time", "Asia/Baghdad"},
	{"Arab Standard Time", "Asia/Riyadh"},
	{"Russian Standard Time", "Europe/Moscow"},
	{"E. Africa Standard Time", "Africa/Nairobi"},
	{"Iran Standard Time", "Asia/Tehran"},
	{"Arabian Standard Time", "Asia/Dubai"},
	{"Azerbaijan Standard Time", "Asia/Baku"},
	{"Georgian Standard Time", "Asia/Tbilisi"},
	{"Afghanistan Standard Time", "Asia/Kabul"},
	{"West Asia Standard Time", "Asia/Tashkent"},
	{"Pakistan Standard Time", "Asia/Karachi"},
	{"Ekaterinburg Standard Time", "Asia/Yekaterinburg"},
	{"India Standard Time", "Asia/Kolkata"},
	{"Sri Lanka Standard Time", "Asia/Colombo"},
	{"Nepal Standard Time", "Asia/Kathmandu"},
	{"Central Asia Standard Time", "Asia/Almaty"},
	{"Bangladesh Standard Time", "Asia/Dhaka"},
	{"Myanmar Standard Time", "Asia/Yangon"},
	{"SE Asia Standard Time", "Asia/Bangkok"},
	{"N. Central Asia Standard Time", "Asia/Novosibirsk"},
	{"China Standard Time", "Asia/Shanghai"},
	{"North Asia Standard Time", "Asia/Krasnoyarsk"},
	{"Singapore Standard Time", "Asia/Singapore"},
	{"W. Australia Standard Time", "Australia/Perth"},
	{"Taipei Standard Time", "Asia/Taipei"},
	{"Ulaanbaatar Standard Time", "Asia/Ulaanbaatar"},
	{"North Asia East Standard Time", "Asia/Irkutsk"},
	{"Tokyo Standard Time", "Asia/Tokyo"},
	{"Korea Standard Time", "Asia/Seoul"},
	{"Cen. Australia Standard Time", "Australia/Adelaide"},
	{"AUS Central Standard Time", "Australia/Darwin"},
	{"E. Australia Standard Time", "Australia/Brisbane"},
	{"AUS Eastern Standard Time", "Australia/Sydney"},
	{"West Pacific Standard Time", "Pacific/Port_Moresby"},
	{"Tasmania Standard Time", "Australia/Hobart"},
	{"Yakutsk Standard Time", "Asia/Yakutsk"},
	{"Vladivostok Standard Time", "Asia/Vladivostok"},
	{"Central Pacific Standard Time", "Pacific/Guadalcanal"},
	{"New Zealand Standard Time", "Pacific/Auckland"},
	{"UTC+12", "Etc/GMT-12"},
	{"Fiji Standard Time", "Pacific/Fiji"},
	{"Tonga Standard Time", "Pacific/Tongatapu"},
	{"Samoa Standard Time", "Pacific/Apia"},
	{"Line Islands Standard Time", "Pacific/Kiritimati"},
};

int plat_timezone_name(char *out, size_t cap)
{
	DYNAMIC_TIME_ZONE_INFORMATION d;
	char *key;

	memset(&d, 0, sizeof(d));
	if (GetDynamicTimeZoneInformation(&d) == TIME_ZONE_ID_INVALID || !d.TimeZoneKeyName[0])
		return -ENOENT;
	key = plat_win32_narrow(d.TimeZoneKeyName);
	if (!key)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_LEN(zones); i++) {
		if (strcmp(key, zones[i].win) == 0) {
			free(key);
			return util_strlcpy(out, zones[i].iana, cap) < 0 ? -ENAMETOOLONG : 0;
		}
	}
	free(key);
	return -ENOENT;
}

/* POSIX offsets are minutes *west* of UTC, as Windows biases are. */
static int fmt_offset(char *out, size_t cap, long west)
{
	long a = west < 0 ? -west : west;
	if (a % 60)
		return snprintf(out, cap, "%s%ld:%02ld", west < 0 ? "-" : "", a / 60, a % 60);
	return snprintf(out, cap, "%s%ld", west < 0 ? "-" : "", a / 60);
}

/* A transition date "Mm.w.d/hh:mm" (w 5 = last; Windows uses the same). */
static int fmt_date(char *out, size_t cap, const SYSTEMTIME *t)
{
	return snprintf(out, cap, "M%u.%u.%u/%u:%02u", t->wMonth, t->wDay, t->wDayOfWeek, t->wHour, t->wMinute);
}

int plat_timezone_rule(char *out, size_t cap)
{
	TIME_ZONE_INFORMATION z;
	char so[16], dso[16], d1[32], d2[32];
	DWORD id;
	int n;

	memset(&z, 0, sizeof(z));
	id = GetTimeZoneInformation(&z);
	if (id == TIME_ZONE_ID_INVALID)
		return -ENOENT;
	fmt_offset(so, sizeof(so), z.Bias + z.StandardBias);
	/* no DST, or a rule by absolute date (wYear set), which POSIX cannot say */
	if (z.DaylightDate.wMonth == 0 || z.StandardDate.wMonth == 0 || z.DaylightDate.wYear != 0 ||
	    z.DaylightDate.wMonth > 12 || z.StandardDate.wMonth > 12 || z.DaylightDate.wDay < 1 ||
	    z.DaylightDate.wDay > 5 || z.StandardDate.wDay < 1 || z.StandardDate.wDay > 5) {
		n = snprintf(out, cap, "STD%s", so);
	} else {
		fmt_offset(dso, sizeof(dso), z.Bias + z.DaylightBias);
		fmt_date(d1, sizeof(d1), &z.DaylightDate);
		fmt_date(d2, sizeof(d2), &z.StandardDate);
		n = snprintf(out, cap, "STD%sDST%s,%s,%s", so, dso, d1, d2);
	}
	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}
