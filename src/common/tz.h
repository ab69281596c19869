/*
 * tz.h — time zones without the process-wide TZ variable.
 *
 * A struct tz_zone answers one question: "what is the UTC offset at instant
 * t?".  It is built from a compiled TZif file of the IANA database (the
 * transitions plus the POSIX rule footer for instants after the last
 * transition), from a bare POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3"), or
 * from a fixed offset.  Zones are immutable once built, so one zone may be
 * shared by any number of threads; nothing here touches TZ, tzset() or
 * localtime(), which is why the server can evaluate schedules of hosts in
 * different zones on any thread.
 *
 * Portable C only (stdio for reading the zone file): builds with MinGW.  On
 * Windows there is no zoneinfo directory; the agent passes a POSIX rule or a
 * fixed offset derived by its platform code instead.
 */
#ifndef RM_TZ_H
#define RM_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz_zone;

/* Longest zone name accepted (IANA names are far shorter). */
#define TZ_NAME_MAX 64

/* True if name looks like an IANA zone name: [A-Za-z0-9_+-] segments joined
 * by '/', no empty or dot-leading segment, at most TZ_NAME_MAX bytes.  It does
 * not say the zone exists. */
bool tz_is_valid_name(const char *name);

/* Load the zone called name ("Europe/Berlin", "UTC") from $TZDIR or
 * /usr/share/zoneinfo; NULL or "" loads the system zone (/etc/localtime).
 * OUT: *out (free with tz_zone_free).  Return 0, -EINVAL for a bad name or a
 * malformed file, -ENOENT if the zone does not exist, -ENOMEM, or -errno. */
int tz_zone_load(const char *name, struct tz_zone **out);

/* Build a zone from the bytes of a TZif file (any version).  Borrows data.
 * OUT: *out.  Return 0, -EINVAL if malformed, -ENOMEM. */
int tz_zone_parse(const void *data, size_t len, struct tz_zone **out);

/* Build a zone from a POSIX TZ rule (the TZif footer syntax).  OUT: *out.
 * Return 0, -EINVAL if malformed, -ENOMEM. */
int tz_zone_from_rule(const char *rule, struct tz_zone **out);

/* A zone with a constant offset (seconds east of UTC, |offset| < 26 h). */
int tz_zone_fixed(int32_t offset, struct tz_zone **out);

/* Free a zone; accepts NULL. */
void tz_zone_free(struct tz_zone *z);

/* Offset from UTC in seconds (east positive) in effect at instant t. */
int32_t tz_zone_offset(const struct tz_zone *z, int64_t t);

/* Days since 1970-01-01 of a proleptic Gregorian date and back (m 1-12). */
int64_t tz_days_from_civil(int64_t y, int m, int d);
void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
