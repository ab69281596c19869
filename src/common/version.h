/*
 * version.h — build identity compiled into both binaries (make VERSION= COMMIT= DATE=).
 */
#ifndef RM_VERSION_H
#define RM_VERSION_H

extern const char rm_version[];
extern const char rm_commit[];
extern const char rm_date[];

/* Protocol version spoken between agent and server (DESIGN.md §5). */
#define RM_PROTOCOL_VERSION 1
/* Oldest agent protocol version the server still accepts. */
#define RM_PROTOCOL_MIN 1

/* Print "<program> version X commit Y date Z" to stdout. */
void version_print(const char *program);

#endif
