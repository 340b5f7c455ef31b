export * from './options.js';
export * from './envelope.js';
export * from './context.js';
export * from './limits.js';
export { BusConnection, type BusConnectionOptions, type SetupFn } from './connection.js';
export { RpcServer, RecentIds, type Accepted, type Dispatcher, type RejectedHook, type RpcServerOptions } from './rpc-server.js';
export { Notifier, type NotifierOptions } from './notifier.js';
