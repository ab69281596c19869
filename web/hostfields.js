// hostfields.js — tolerant accessors for host objects from GET /api/v1/hosts
// (so the UI keeps working while the API grows fields).
export function hostName(x) { return x.name || x.hostname || `host ${x.id}`; }
export function hostStatus(x) { return x.status || (x.online === true ? 'online' : x.online === false ? 'offline' : 'unknown'); }
export function hostOs(x) {
  const os = x.os || (x.facts && x.facts.os) || '';
  const arch = x.arch || (x.facts && x.facts.arch) || '';
  return [os, arch].filter(Boolean).join('/') || '—';
}
export function lastBackup(x) {
  const lb = x.last_backup || x.last_job || null;
  if (lb && typeof lb === 'object') return { status: lb.status || null, time: lb.at || lb.finished_at || lb.time || lb.started_at || null, job: lb.job_id || lb.id || null };
  return { status: x.last_backup_status || null, time: x.last_backup_at || x.last_backup_time || null, job: x.last_backup_job_id || null };
}
export function repoSize(x) {
  if (x.repo_size !== undefined) return x.repo_size;
  if (x.repo_size_bytes !== undefined) return x.repo_size_bytes;
  if (x.repo && typeof x.repo === 'object') return x.repo.size ?? x.repo.total_size ?? x.repo.size_bytes ?? null;
  if (x.repo_stats) return x.repo_stats.raw_size ?? x.repo_stats.total_size ?? null;
  if (x.stats) return x.stats.total_size ?? null;
  return null;
}
export function snapshotCount(x) { return x.snapshot_count ?? x.snapshots ?? (x.repo && x.repo.snapshot_count) ?? null; }
export function hostTags(x) { return Array.isArray(x.tags) ? x.tags : []; }
export function lastSeen(x) { return x.last_seen_at || x.last_seen || null; }
export function hasProblem(x) {
  const lb = lastBackup(x);
  return (Array.isArray(x.alerts) && x.alerts.length > 0) || (Array.isArray(x.problems) && x.problems.length > 0) ||
    x.problem === true || lb.status === 'failed' || (x.open_alerts > 0);
}
/** Freshness class of the last backup: fresh (<26 h), stale (<3 d), old, none. */
export function freshness(x) {
  const lb = lastBackup(x);
  if (!lb.time) return 'none';
  const t = typeof lb.time === 'number' ? (lb.time < 1e11 ? lb.time * 1000 : lb.time) : Date.parse(lb.time);
  const age = (Date.now() - t) / 3600e3;
  return age < 26 ? 'fresh' : age < 72 ? 'stale' : 'old';
}
