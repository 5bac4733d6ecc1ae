// The local web viewer: `spark serve`'s server, its run reader and its playground.
export { startServer, DEFAULT_MAX_UPLOAD_BYTES, type ServeOptions, type RunningServer } from './server.js';
export { HttpError, resolveInside, realRoot } from './paths.js';
export { listLogs, readLogFrom, listCheckpoints, listReconstructions, type LogChunk, type CheckpointEntry } from './run.js';
export { Playground, SerialQueue, ModelCache, UploadStore } from './playground.js';
