import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per process, shared by every tier mounted in it. Labels never carry user or
 * room ids: cardinality stays bounded whatever the traffic.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const httpRequests = new Counter({
  name: 'parley_http_requests_total',
  help: 'HTTP requests by method, route pattern and status',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});

export const httpDuration = new Histogram({
  name: 'parley_http_request_duration_seconds',
  help: 'HTTP request duration by method and route pattern',
  labelNames: ['method', 'route'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const socketsConnected = new Gauge({
  name: 'parley_sockets_connected',
  help: 'Socket.IO connections open on this instance',
  registers: [registry],
});

export const socketEvents = new Counter({
  name: 'parley_socket_events_total',
  help: 'Socket events received, by event and result (ok or error code)',
  labelNames: ['event', 'result'] as const,
  registers: [registry],
});

export const messageAck = new Histogram({
  name: 'parley_message_ack_seconds',
  help: 'Time from receiving a message event to its ack',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const rateLimitRefusals = new Counter({
  name: 'parley_rate_limited_total',
  help: 'Requests and events refused by a rate limit',
  labelNames: ['event'] as const,
  registers: [registry],
});

export const persistBatchSize = new Histogram({
  name: 'parley_persist_batch_size',
  help: 'Messages committed per database transaction',
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
  registers: [registry],
});

export const persistBatchSeconds = new Histogram({
  name: 'parley_persist_batch_seconds',
  help: 'Duration of one message-batch transaction',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  registers: [registry],
});

export const roomStateCacheLookups = new Counter({
  name: 'parley_room_state_cache_total',
  help: 'Batches of changes by how the room-state cache served them: hit (one round trip), miss (read first), stale (the write found the room changed; read again), shared (another writer seen in the room lately: read first)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const presencePruned = new Counter({
  name: 'parley_presence_pruned_total',
  help: 'Presence entries removed because their socket stopped refreshing them',
  registers: [registry],
});

export const uploadsCompleted = new Counter({
  name: 'parley_uploads_completed_total',
  help: 'Upload completions by result: created, repeated (idempotent), mismatch (deleted), missing (nothing stored)',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const uploadsSwept = new Counter({
  name: 'parley_uploads_swept_total',
  help: 'Abandoned uploads deleted by the orphan sweep, by result (deleted, object_delete_failed)',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const socketBudgetDisconnects = new Counter({
  name: 'parley_socket_budget_disconnects_total',
  help: 'Connections closed because they kept sending far over their event budget',
  registers: [registry],
});

export const readMarkerWrites = new Counter({
  name: 'parley_read_marker_writes_total',
  help: 'Read-marker rows written by the coalesced flushes (each one moved a marker forward)',
  registers: [registry],
});

export const readMarkerMoves = new Counter({
  name: 'parley_read_marker_moves_total',
  help: 'Read markers moved in memory (accepted reads and sends): the writes coalescing saves',
  registers: [registry],
});

export const readMarkerFlushSeconds = new Histogram({
  name: 'parley_read_marker_flush_seconds',
  help: 'Duration of one read-marker flush (one statement for every pending marker)',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  registers: [registry],
});
