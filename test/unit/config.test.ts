import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config.bus).toMatchObject({ url: 'amqp://guest:guest@127.0.0.1:5672/', exchange: 'openstack', topic: 'virt_dr' });
    expect(config.libvirt.uri).toBe('qemu:///system');
    expect(config.libvirt.reconnect_timeout_s).toBe(60);
    expect(config.repo.path).toBe('/var/lib/virt-dr/repo');
    expect(config.state.path).toBe('/var/lib/virt-dr/state');
  });

  it('reads a file, then the environment, then flags (later wins)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'vdr-config-')), 'agent.json');
    writeFileSync(file, JSON.stringify({ host: 'from-file', bus: { topic: 'file_topic', exchange: 'nova' } }));
    const config = loadConfig({
      file,
      env: { VIRT_DR_BUS_TOPIC: 'env_topic', VIRT_DR_BUS_RABBIT_QUORUM_QUEUE: 'true' },
      argv: ['--host', 'from-flag'],
    });
    expect(config.host).toBe('from-flag');
    expect(config.bus.topic).toBe('env_topic');
    expect(config.bus.exchange).toBe('nova');
    expect(config.bus.rabbit_quorum_queue).toBe(true);
  });

  it('refuses unknown keys and wrong types with a ConfigError', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'vdr-config-')), 'agent.json');
    writeFileSync(file, JSON.stringify({ bogus: 1 }));
    expect(() => loadConfig({ file })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { VIRT_DR_JOBS_CONCURRENCY: 'many' } })).toThrow(ConfigError);
  });

  it('serves no /metrics unless a port is given, on loopback by default', () => {
    expect(loadConfig({}).metrics).toEqual({ port: 0, address: '127.0.0.1' });
    expect(loadConfig({ env: { VIRT_DR_METRICS_PORT: '9464' } }).metrics.port).toBe(9464);
    expect(loadConfig({ argv: ['--metrics-port', '9465', '--metrics-address', '0.0.0.0'] }).metrics).toEqual({ port: 9465, address: '0.0.0.0' });
    expect(() => loadConfig({ env: { VIRT_DR_METRICS_PORT: '70000' } })).toThrow(ConfigError);
  });

  it('reads policy.defaults from the file only, as written (the agent parses it at start)', () => {
    expect(loadConfig({}).policy).toEqual({ defaults: {}, sweep_s: 600 });
    const file = join(mkdtempSync(join(tmpdir(), 'vdr-config-')), 'agent.json');
    const defaults = { schedule: { weekly: { days: ['wed'], time: '22:00', tz: 'Europe/Berlin' } }, retention: { max_count: 7 } };
    writeFileSync(file, JSON.stringify({ policy: { defaults } }));
    expect(loadConfig({ file }).policy.defaults).toEqual(defaults);
    writeFileSync(file, JSON.stringify({ policy: { defaults: [] } }));
    expect(() => loadConfig({ file })).toThrow(ConfigError);
  });

  it('documents every key without printing secrets', () => {
    const text = describeConfig();
    expect(text).toContain('VIRT_DR_STATE_PATH');
    expect(text).not.toContain('guest:guest');
  });
});
