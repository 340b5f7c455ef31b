import { defineConfig } from 'vitest/config';

// Two projects: `unit` is pure logic with fakes and runs anywhere in seconds;
// `integration` drives a real libvirtd, RabbitMQ and TCG guest, one file at a time
// because they share the host's libvirtd and the guest.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          sequence: { concurrent: false },
        },
      },
    ],
  },
});
