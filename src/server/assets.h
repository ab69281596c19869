/*
 * assets.h — agent binaries and install scripts (DESIGN.md §7):
 *   GET|HEAD /agent/binary?os=linux|windows&arch=amd64|arm64
 *   GET|HEAD /install/<install.sh|install.ps1|restic-manager-agent.service>
 * Each name is looked up in $RM_DATA_DIR/{agent-binaries,install}/ first
 * (operator override), then in $RM_BUNDLED_ASSETS_DIR/…; served with
 * sendfile.  Public routes (routes.c).  Loop thread.
 */
#ifndef RM_ASSETS_H
#define RM_ASSETS_H

#include "server/http.h"

void assets_serve_binary(struct http_ctx *c);
void assets_serve_install(struct http_ctx *c);

#endif
