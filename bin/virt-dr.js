#!/usr/bin/env node
const { cli } = await import('../dist/src/cli/virt-dr.js');
process.exit(await cli(process.argv.slice(2)));
