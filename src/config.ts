import { hostname } from 'node:os';
import convict from 'convict';

/**
 * The agent's configuration: one convict schema, loaded once at start-up from a JSON
 * file, then environment variables, then command-line flags (later wins). Every module
 * receives the typed slice it needs; nothing below main.ts reads this object.
 *
 * The schema is the documentation: `virt-dr-agent --help-config` prints it.
 */
const schema = {
  roles: {
    doc: 'What this agent is: compute (backs up the host\'s domains) and/or dr (owns a disaster-recovery node\'s repository and fails domains over to it). Comma-separated in the environment.',
    format: 'roles',
    default: ['compute'],
    env: 'VIRT_DR_ROLES',
    arg: 'roles',
  },
  host: {
    doc: 'Name of this agent on the bus: the server part of the per-host queue (T.S).',
    format: String,
    default: hostname(),
    env: 'VIRT_DR_HOST',
    arg: 'host',
  },
  bus: {
    url: {
      doc: 'AMQP URL of RabbitMQ. Its password is never logged.',
      format: String,
      default: 'amqp://guest:guest@127.0.0.1:5672/',
      env: 'VIRT_DR_BUS_URL',
      arg: 'bus-url',
      sensitive: true,
    },
    exchange: {
      doc: 'oslo control exchange (nova deployments use "nova").',
      format: String,
      default: 'openstack',
      env: 'VIRT_DR_BUS_EXCHANGE',
      arg: 'bus-exchange',
    },
    topic: {
      doc: 'RPC topic: the shared queue T and the per-host queue T.<host>.',
      format: String,
      default: 'virt_dr',
      env: 'VIRT_DR_BUS_TOPIC',
      arg: 'bus-topic',
    },
    amqp_durable_queues: {
      doc: 'oslo [oslo_messaging_rabbit] amqp_durable_queues: declare exchange and queues durable.',
      format: Boolean,
      default: false,
      env: 'VIRT_DR_BUS_AMQP_DURABLE_QUEUES',
      arg: 'bus-amqp-durable-queues',
    },
    rabbit_quorum_queue: {
      doc: 'oslo rabbit_quorum_queue: declare T and T.<host> as durable quorum queues.',
      format: Boolean,
      default: false,
      env: 'VIRT_DR_BUS_RABBIT_QUORUM_QUEUE',
      arg: 'bus-rabbit-quorum-queue',
    },
    rabbit_ha_queues: {
      doc: 'oslo rabbit_ha_queues: declare queues with x-ha-policy "all".',
      format: Boolean,
      default: false,
      env: 'VIRT_DR_BUS_RABBIT_HA_QUEUES',
      arg: 'bus-rabbit-ha-queues',
    },
    rabbit_transient_queues_ttl: {
      doc: 'oslo rabbit_transient_queues_ttl, seconds: x-expires of the fanout queue.',
      format: 'nat',
      default: 1800,
      env: 'VIRT_DR_BUS_RABBIT_TRANSIENT_QUEUES_TTL',
      arg: 'bus-rabbit-transient-queues-ttl',
    },
    notification_topics: {
      doc: 'oslo [oslo_messaging_notifications] topics: notifications go to <topic>.<priority>.',
      format: Array,
      default: ['notifications'],
      env: 'VIRT_DR_BUS_NOTIFICATION_TOPICS',
      arg: 'bus-notification-topics',
    },
  },
  libvirt: {
    uri: {
      doc: 'libvirt connection URI.',
      format: String,
      default: 'qemu:///system',
      env: 'VIRT_DR_LIBVIRT_URI',
      arg: 'libvirt-uri',
    },
    reconnect_timeout_s: {
      doc: 'How long a job waits for libvirtd to answer again after it lost its connection (a restart), before the call fails; a repair waits again on every retry.',
      format: 'nat',
      default: 60,
      env: 'VIRT_DR_LIBVIRT_RECONNECT_TIMEOUT_S',
      arg: 'libvirt-reconnect-timeout-s',
    },
  },
  repo: {
    path: {
      doc: 'Backup repository folder when neither repo.url nor repo.targets is set: the target file://<path>, named "local".',
      format: String,
      default: '/var/lib/virt-dr/repo',
      env: 'VIRT_DR_REPO_PATH',
      arg: 'repo-path',
    },
    url: {
      doc: 'One repository target by URL, named "primary": file:///path (a local folder, an NFS or CephFS mount), ssh://user@host:port/path or s3://bucket/prefix (with repo.s3). Replaces repo.path; several targets go in repo.targets instead.',
      format: String,
      default: '',
      env: 'VIRT_DR_REPO_URL',
      arg: 'repo-url',
    },
    ssh_key: {
      doc: 'For repo.url over ssh: the private key file the agent logs in with.',
      format: String,
      default: '',
      env: 'VIRT_DR_REPO_SSH_KEY',
      arg: 'repo-ssh-key',
    },
    known_hosts: {
      doc: 'For repo.url over ssh: the known_hosts file the server\'s host key must be in; an unknown or changed key is refused.',
      format: String,
      default: '',
      env: 'VIRT_DR_REPO_SSH_KNOWN_HOSTS',
      arg: 'repo-ssh-known-hosts',
    },
    bandwidth_bytes_per_s: {
      doc: 'For repo.url: the transfer rate limit in bytes/s; 0 means unlimited.',
      format: 'nat',
      default: 0,
      env: 'VIRT_DR_REPO_BANDWIDTH',
      arg: 'repo-bandwidth',
    },
    targets: {
      doc: 'Repository targets, the first the primary (points are published there first, then copied to each other target delay_s seconds later): a list of {name, url, ssh_key, known_hosts, bandwidth_bytes_per_s, delay_s}. Set in the config file.',
      format: Array,
      default: [],
    },
    s3: {
      endpoint: {
        doc: 'For s3:// targets: the S3 endpoint, http(s)://host:port (a Ceph RADOS Gateway, or any S3 service); addressed path-style. Empty: AWS S3 of repo.s3.region.',
        format: String,
        default: '',
        env: 'VIRT_DR_REPO_S3_ENDPOINT',
        arg: 'repo-s3-endpoint',
      },
      region: {
        doc: 'For s3:// targets: the region requests are signed for.',
        format: String,
        default: 'us-east-1',
        env: 'VIRT_DR_REPO_S3_REGION',
        arg: 'repo-s3-region',
      },
      access_key: {
        doc: 'For s3:// targets: the access key id.',
        format: String,
        default: '',
        env: 'VIRT_DR_REPO_S3_ACCESS_KEY',
        arg: 'repo-s3-access-key',
      },
      secret_key: {
        doc: 'For s3:// targets: the secret access key. It is never logged.',
        format: String,
        default: '',
        env: 'VIRT_DR_REPO_S3_SECRET_KEY',
        arg: 'repo-s3-secret-key',
        sensitive: true,
      },
      part_size_bytes: {
        doc: 'For s3:// targets: the size of a multipart upload\'s parts (5 MiB to 5 GiB). An upload holds at most part_size_bytes x parallel_parts in memory.',
        format: 'nat',
        default: 16 * 1024 * 1024,
        env: 'VIRT_DR_REPO_S3_PART_SIZE',
        arg: 'repo-s3-part-size',
      },
      parallel_parts: {
        doc: 'For s3:// targets: the parts of one file uploaded at once.',
        format: 'nat',
        default: 4,
        env: 'VIRT_DR_REPO_S3_PARALLEL_PARTS',
        arg: 'repo-s3-parallel-parts',
      },
    },
  },
  replication: {
    concurrency: {
      doc: 'Domains copied to the secondary targets at once; each copies to its due targets one after another, most free space first.',
      format: 'nat',
      default: 2,
      env: 'VIRT_DR_REPLICATION_CONCURRENCY',
      arg: 'replication-concurrency',
    },
  },
  metrics: {
    port: {
      doc: 'TCP port of the Prometheus endpoint (GET /metrics); 0 turns it off. A port already in use fails the start.',
      format: 'port',
      default: 0,
      env: 'VIRT_DR_METRICS_PORT',
      arg: 'metrics-port',
    },
    address: {
      doc: 'Address /metrics listens on. Loopback by default because the endpoint has no authentication and names the host\'s domains: a scraper on the host, or a proxy that adds TLS and authentication, reaches it; give a management address to expose it further.',
      format: String,
      default: '127.0.0.1',
      env: 'VIRT_DR_METRICS_ADDRESS',
      arg: 'metrics-address',
    },
  },
  state: {
    path: {
      doc: 'Agent state: the job journal and the disk-chain records.',
      format: String,
      default: '/var/lib/virt-dr/state',
      env: 'VIRT_DR_STATE_PATH',
      arg: 'state-path',
    },
  },
  jobs: {
    concurrency: {
      doc: 'Jobs that may run at once on this host (one per domain at most).',
      format: 'nat',
      default: 2,
      env: 'VIRT_DR_JOBS_CONCURRENCY',
      arg: 'jobs-concurrency',
    },
    keep_finished: {
      doc: 'Finished jobs kept in the journal for get_job/list_jobs.',
      format: 'nat',
      default: 500,
      env: 'VIRT_DR_JOBS_KEEP_FINISHED',
      arg: 'jobs-keep-finished',
    },
  },
  backup: {
    freeze_timeout_s: {
      doc: 'How long the guest agent may take to answer fsfreeze before it counts as absent.',
      format: 'nat',
      default: 10,
      env: 'VIRT_DR_BACKUP_FREEZE_TIMEOUT_S',
      arg: 'backup-freeze-timeout-s',
    },
    thaw_timeout_s: {
      doc: 'Bound on thaw or resume; past it the agent logs loudly and keeps retrying in recovery.',
      format: 'nat',
      default: 10,
      env: 'VIRT_DR_BACKUP_THAW_TIMEOUT_S',
      arg: 'backup-thaw-timeout-s',
    },
    bandwidth_bytes_per_s: {
      doc: 'Copy rate limit per job in bytes/s; 0 means unlimited.',
      format: 'nat',
      default: 0,
      env: 'VIRT_DR_BACKUP_BANDWIDTH_BYTES_PER_S',
      arg: 'backup-bandwidth-bytes-per-s',
    },
    engine: {
      doc: 'Backup engine when a request names none: auto (checkpoint when libvirt has the backup API and every disk is qcow2, or on any Nova instance; else snapshot), checkpoint, or snapshot (never on Nova instances).',
      format: ['auto', 'checkpoint', 'snapshot'],
      default: 'auto',
      env: 'VIRT_DR_BACKUP_ENGINE',
      arg: 'backup-engine',
    },
    progress_interval_ms: {
      doc: 'Longest gap between progress notifications (they also come every 5 %).',
      format: 'nat',
      default: 2000,
      env: 'VIRT_DR_BACKUP_PROGRESS_INTERVAL_MS',
      arg: 'backup-progress-interval-ms',
    },
  },
  restore: {
    shutdown_grace_s: {
      doc: 'How long a restore that replaces a running domain waits for the guest to shut down (ACPI) before it forces the domain off.',
      format: 'nat',
      default: 60,
      env: 'VIRT_DR_RESTORE_SHUTDOWN_GRACE_S',
      arg: 'restore-shutdown-grace-s',
    },
    new_domain_dir: {
      doc: 'Where restore(target="new") puts each new domain\'s disks, one folder per domain.',
      format: String,
      default: '/var/lib/libvirt/images/virt-dr',
      env: 'VIRT_DR_RESTORE_NEW_DOMAIN_DIR',
      arg: 'restore-new-domain-dir',
    },
    instant_bandwidth_mib_s: {
      doc: 'Rate limit of an instant restore\'s background copy in MiB/s, so the guest keeps most of the disk; 0 means unlimited.',
      format: 'nat',
      default: 0,
      env: 'VIRT_DR_RESTORE_INSTANT_BANDWIDTH_MIB_S',
      arg: 'restore-instant-bandwidth-mib-s',
    },
  },
  failover: {
    home_timeout_s: {
      doc: 'How long a failover waits for the domain\'s home agent to say whether the domain still runs there; no answer in time counts as a lost host.',
      format: 'nat',
      default: 5,
      env: 'VIRT_DR_FAILOVER_HOME_TIMEOUT_S',
      arg: 'failover-home-timeout-s',
    },
    path_map: {
      doc: 'Storage paths of the home hosts and where they are on this host, longest prefix first: [{"from": "/var/lib/nova/instances", "to": "/srv/dr/instances"}]. Applies to the disks, kernel, firmware and console files of a failed-over or restored domain.',
      format: Array,
      default: [],
    },
    bridge_map: {
      doc: 'Bridge names of the home hosts and this host\'s: {"br-int": "br-dr"}.',
      format: Object,
      default: {},
    },
    network_map: {
      doc: 'libvirt network names of the home hosts and this host\'s: {"default": "dr-net"}.',
      format: Object,
      default: {},
    },
  },
  policy: {
    defaults: {
      doc: 'The default backup policy, under each project\'s and domain\'s (set_policy): the keys of a Policy (shared/PROTOCOL.md), e.g. {"schedule": {"weekly": {"days": ["wed"], "time": "22:00", "tz": "Europe/Berlin"}}, "retention": {"max_count": 7}}. Checked at start: a bad one stops the agent. Set in the config file.',
      format: Object,
      default: {},
    },
    sweep_s: {
      doc: 'How often every domain\'s points are checked against its policy between backups, so a chain moves to the slow tier after T2 even when backups stopped (a prune job is started only when the policy has something to do).',
      format: 'nat',
      default: 600,
      env: 'VIRT_DR_POLICY_SWEEP_S',
      arg: 'policy-sweep-s',
    },
  },
  log: {
    level: {
      doc: 'pino log level.',
      format: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
      default: 'info',
      env: 'VIRT_DR_LOG_LEVEL',
      arg: 'log-level',
    },
  },
};

export type AgentRole = 'compute' | 'dr';

export type AgentConfig = {
  roles: AgentRole[];
  host: string;
  bus: {
    url: string;
    exchange: string;
    topic: string;
    amqp_durable_queues: boolean;
    rabbit_quorum_queue: boolean;
    rabbit_ha_queues: boolean;
    rabbit_transient_queues_ttl: number;
    notification_topics: string[];
  };
  libvirt: { uri: string; reconnect_timeout_s: number };
  repo: {
    path: string;
    url: string;
    ssh_key: string;
    known_hosts: string;
    bandwidth_bytes_per_s: number;
    /** As written in the file; `targetSpecs` (repo/target-config.ts) parses them. */
    targets: unknown[];
    s3: { endpoint: string; region: string; access_key: string; secret_key: string; part_size_bytes: number; parallel_parts: number };
  };
  replication: { concurrency: number };
  metrics: { port: number; address: string };
  state: { path: string };
  jobs: { concurrency: number; keep_finished: number };
  backup: {
    freeze_timeout_s: number;
    thaw_timeout_s: number;
    bandwidth_bytes_per_s: number;
    engine: 'auto' | 'checkpoint' | 'snapshot';
    progress_interval_ms: number;
  };
  restore: { shutdown_grace_s: number; new_domain_dir: string; instant_bandwidth_mib_s: number };
  failover: {
    home_timeout_s: number;
    /** As written; `hostMappingOf` (failover/host-mapping.ts) parses them. */
    path_map: unknown[];
    bridge_map: Record<string, unknown>;
    network_map: Record<string, unknown>;
  };
  /** As written; `policySetupOf` (policy/policies.ts) parses it. */
  policy: { defaults: Record<string, unknown>; sweep_s: number };
  log: { level: string };
};

export class ConfigError extends Error {}

const ROLES: readonly AgentRole[] = ['compute', 'dr'];

convict.addFormat({
  name: 'roles',
  coerce: (value: unknown) => (typeof value === 'string' ? value.split(',').map((r) => r.trim()) : value),
  validate(value: unknown) {
    if (!Array.isArray(value) || value.length === 0) throw new Error('must list at least one of compute, dr');
    for (const role of value) {
      if (!ROLES.includes(role as AgentRole)) throw new Error(`${JSON.stringify(role)} is not a role: use compute and/or dr`);
    }
  },
});

/**
 * Loads and validates the configuration. `argv` and `env` are parameters so tests
 * can load a configuration without touching the process.
 */
export function loadConfig(options: {
  file?: string | undefined;
  argv?: string[];
  env?: NodeJS.ProcessEnv;
}): AgentConfig {
  const config = convict(schema, {
    args: options.argv ?? [],
    env: options.env ?? {},
  });
  try {
    if (options.file) config.loadFile(options.file);
    config.validate({ allowed: 'strict' });
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  const loaded = config.getProperties() as AgentConfig;
  loaded.roles = [...new Set(loaded.roles)];
  return loaded;
}

/** The schema as text, one key per line with its variable, flag and default, for `--help-config`. */
export function describeConfig(): string {
  const lines: string[] = [];
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(node)) {
      const entry = value as { doc?: string; env?: string; arg?: string; default?: unknown; sensitive?: boolean };
      if (entry.doc === undefined) {
        walk(value as Record<string, unknown>, `${prefix}${key}.`);
        continue;
      }
      const fallback = entry.sensitive ? '(secret)' : JSON.stringify(entry.default);
      lines.push(`${prefix}${key}  [${entry.env}, --${entry.arg}]  default ${fallback}\n    ${entry.doc}`);
    }
  };
  walk(schema, '');
  return lines.join('\n');
}
