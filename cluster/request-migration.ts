import { readFile, writeFile } from 'node:fs/promises';
import { errorMessage, type Log } from '../lib/log.js';

const SETTING = '/proc/sys/net/ipv4/tcp_migrate_req';

/**
 * Every worker owns a listening socket in one SO_REUSEPORT group. When a draining worker closes
 * its socket, Linux by default resets the connections still waiting in that socket's accept
 * queue: a reload would refuse a few requests. With net.ipv4.tcp_migrate_req=1 (Linux 5.14+)
 * the kernel hands them to another socket of the group instead. The setting belongs to the
 * network namespace and changes nothing for sockets outside reuseport groups, so the primary
 * turns it on when it is allowed to (root, or a container's own namespace) and warns otherwise.
 */
export async function enableRequestMigration(log: Log): Promise<void> {
  let current: string;
  try {
    current = (await readFile(SETTING, 'utf8')).trim();
  } catch {
    log.warn('tcp_migrate_req_unavailable', {
      reason: `${SETTING} not found (not Linux, or a kernel before 5.14): a reload may reset a few queued connections`,
    });
    return;
  }
  if (current !== '0') return;
  try {
    await writeFile(SETTING, '1');
    log.info('tcp_migrate_req_enabled', { reason: 'reloads hand queued connections to the remaining workers' });
  } catch (err) {
    log.warn('tcp_migrate_req_off', {
      reason:
        `cannot set net.ipv4.tcp_migrate_req=1 (${errorMessage(err)}): a reload may reset a few queued connections; ` +
        'set it with sysctl as root',
    });
  }
}
