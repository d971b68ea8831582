/**
 * Host-wide CPU and memory gauges beside prom-client's process ones (the FastAPI module's system metrics), named
 * after the OpenTelemetry system metrics as exported to Prometheus, and the container's cgroup limits when the process
 * runs in one (cgroup v2, else v1): a pod's memory limit matters more than the node's RAM. Read at scrape time.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Gauge, Registry } from 'prom-client';

type PromClient = typeof import('prom-client');

/** Options of the system gauges. */
export interface SystemMetricsOptions {
  /** Where the cgroup filesystem is mounted. @default '/sys/fs/cgroup' */
  readonly cgroupRoot?: string;
}

/** The container's limits and usage, from cgroup v2 or v1 files; fields are undefined where there is no limit. */
export interface CgroupReading {
  readonly memoryLimit: number | undefined;
  readonly memoryUsage: number | undefined;
  readonly cpuLimit: number | undefined;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const num = (text: string | undefined): number | undefined => {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  // cgroup v1 reports "no limit" as a huge page-aligned number.
  return n >= 2 ** 60 ? undefined : n;
};

/** Reads the cgroup's memory limit and usage (bytes) and CPU limit (cores). */
export function readCgroup(root = '/sys/fs/cgroup'): CgroupReading {
  const v2 = read(join(root, 'cgroup.controllers')) !== undefined;
  if (v2) {
    const [quota, period] = (read(join(root, 'cpu.max')) ?? 'max').split(/\s+/);
    return {
      memoryLimit: num(read(join(root, 'memory.max'))),
      memoryUsage: num(read(join(root, 'memory.current'))),
      cpuLimit: quota !== undefined && quota !== 'max' && period ? Number(quota) / Number(period) : undefined,
    };
  }
  const quota = Number(read(join(root, 'cpu', 'cpu.cfs_quota_us')) ?? -1);
  const period = Number(read(join(root, 'cpu', 'cpu.cfs_period_us')) ?? 0);
  return {
    memoryLimit: num(read(join(root, 'memory', 'memory.limit_in_bytes'))),
    memoryUsage: num(read(join(root, 'memory', 'memory.usage_in_bytes'))),
    cpuLimit: quota > 0 && period > 0 ? quota / period : undefined,
  };
}

/** Host CPU busy and total time over all cores, in ms. */
function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const cpu of cpus()) {
    const t = cpu.times;
    const all = t.user + t.nice + t.sys + t.idle + t.irq;
    total += all;
    busy += all - t.idle;
  }
  return { busy, total };
}

/** Registers the host and cgroup gauges on `registry`. */
export function registerSystemMetrics(
  prom: PromClient,
  registry: Registry,
  prefix: string,
  options: SystemMetricsOptions = {},
): void {
  const registers = [registry];
  const root = options.cgroupRoot ?? '/sys/fs/cgroup';
  let last = cpuTimes();
  new prom.Gauge({
    name: `${prefix}system_cpu_utilization_ratio`,
    help: 'Host-wide CPU utilization (0 to 1) since the previous scrape, over all logical CPUs.',
    registers,
    collect(this: Gauge) {
      const now = cpuTimes();
      const total = now.total - last.total;
      if (total > 0) this.set((now.busy - last.busy) / total);
      last = now;
    },
  });
  new prom.Gauge({
    name: `${prefix}system_cpu_logical_count`,
    help: 'Logical CPUs of the host (available to this process).',
    registers,
    collect(this: Gauge) {
      this.set(availableParallelism());
    },
  });
  new prom.Gauge({
    name: `${prefix}system_memory_usage_bytes`,
    help: 'Host memory by state: used or free.',
    labelNames: ['system_memory_state'],
    registers,
    collect(this: Gauge) {
      const free = freemem();
      this.set({ system_memory_state: 'used' }, totalmem() - free);
      this.set({ system_memory_state: 'free' }, free);
    },
  });
  new prom.Gauge({
    name: `${prefix}system_memory_limit_bytes`,
    help: 'Host memory in total.',
    registers,
    collect(this: Gauge) {
      this.set(totalmem());
    },
  });
  const cgroup = (name: string, help: string, pick: (r: CgroupReading) => number | undefined) =>
    new prom.Gauge({
      name: `${prefix}${name}`,
      help,
      registers,
      collect(this: Gauge) {
        const value = pick(readCgroup(root));
        if (value !== undefined) this.set(value);
      },
    });
  cgroup(
    'reqforge_cgroup_memory_limit_bytes',
    "The container's memory limit (absent without one).",
    (r) => r.memoryLimit,
  );
  cgroup('reqforge_cgroup_memory_usage_bytes', "The container's memory use.", (r) => r.memoryUsage);
  cgroup(
    'reqforge_cgroup_cpu_limit_cores',
    "The container's CPU quota in cores (absent without one).",
    (r) => r.cpuLimit,
  );
}
