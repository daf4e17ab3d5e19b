/**
 * Preloaded (`node --require`) into every process the bench starts. If the bench dies without
 * stopping its children (SIGKILL, a crash), the IPC channel to it closes and the child stops
 * itself with SIGTERM, as an operator would, instead of running on unowned.
 */
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
// The channel alone must not keep the child alive.
process.channel?.unref();
