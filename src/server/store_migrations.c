/*
 * store_migrations.c — the numbered schema migrations, applied in order at
 * start (store.c).  Rule: a released migration is never edited; a change is
 * a new row.  (Until the first release, each row belongs to one feature area:
 * 1 core/auth, 2 hosts/agents/jobs, 3 sources/schedules/maintenance.)
 */
#include "server/store_internal.h"

const struct store_migration store_migrations[] = {
	{1, "core: users, sessions, api tokens, settings",
	 "CREATE TABLE settings ("
	 "  key TEXT PRIMARY KEY,"
	 "  value TEXT NOT NULL"
	 ");"
	 "CREATE TABLE users ("
	 "  id INTEGER PRIMARY KEY,"
	 "  username TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	 "  password_hash TEXT NOT NULL,"
	 "  role TEXT NOT NULL CHECK (role IN ('viewer','operator','admin')),"
	 "  disabled INTEGER NOT NULL DEFAULT 0,"
	 "  created_at INTEGER NOT NULL,"
	 "  updated_at INTEGER NOT NULL"
	 ");"
	 "CREATE TABLE sessions ("
	 "  id INTEGER PRIMARY KEY,"
	 "  token_hash TEXT NOT NULL UNIQUE,"
	 "  csrf_token TEXT NOT NULL,"
	 "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	 "  created_at INTEGER NOT NULL,"
	 "  expires_at INTEGER NOT NULL,"
	 "  last_seen_at INTEGER NOT NULL,"
	 "  client_addr TEXT"
	 ");"
	 "CREATE INDEX sessions_user ON sessions(user_id);"
	 "CREATE TABLE api_tokens ("
	 "  id INTEGER PRIMARY KEY,"
	 "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	 "  name TEXT NOT NULL,"
	 "  token_hash TEXT NOT NULL UNIQUE,"
	 "  created_at INTEGER NOT NULL,"
	 "  last_used_at INTEGER,"
	 "  revoked_at INTEGER"
	 ");"
	 "CREATE INDEX api_tokens_user ON api_tokens(user_id);"},
	{0, NULL, NULL},
};
