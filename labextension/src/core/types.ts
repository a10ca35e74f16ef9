/** Data shapes of docs/jupyter-api.md (the REST and feed contract). */

export interface WorkerInfo {
  address: string;
  name: string;
  nthreads: number;
  memory: number;
  memory_limit: number | null;
  cpu: number;
  processing: number;
  kernel: { connection_file: string; kernel_id: string | null } | null;
}

export interface Cluster {
  id: string;
  name: string;
  address: string;
  dashboard: string | null;
  made_by: string;
  managed: boolean;
  scalable: boolean;
  status: 'running' | 'unreachable' | string;
  selected: boolean;
  started: number;
  pid: number;
  workers: number;
  threads: number;
  memory: number;
  memory_limit: number | null;
  tasks: { [state: string]: number };
  adapt: { minimum: number; maximum: number } | null;
  worker_list: WorkerInfo[];
}

export interface Status {
  version: string;
  extension: string;
  clusters: number;
  problems: string[];
  schedulers: { [id: string]: string };
}

export interface ProfileInfo {
  name: string;
  description: string;
  options: { [key: string]: unknown };
}

export interface JSONSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  properties?: { [key: string]: JSONSchema };
  required?: string[];
  anyOf?: JSONSchema[];
  oneOf?: JSONSchema[];
}

export interface ProfilesReply {
  profiles: ProfileInfo[];
  schema: JSONSchema;
}

export type Topic = 'tasks' | 'progress' | 'workers' | 'clients' | 'logs';

export interface TaskRecord {
  key: string;
  prefix: string;
  worker: string;
  start: number;
  stop: number;
  status: 'finished' | 'erred' | 'transfer' | string;
  nbytes?: number;
}

export interface PrefixCounts {
  total: number;
  waiting: number;
  processing: number;
  memory: number;
  erred: number;
  released: number;
}

export interface WorkerMetrics {
  address: string;
  name: string;
  nthreads: number;
  cpu: number;
  memory: number;
  managed: number;
  spilled: number;
  unmanaged: number;
  memory_limit: number | null;
  thresholds: { spill?: number | null; pause?: number | null; terminate?: number | null };
  paused: boolean;
  processing: number;
  in_memory: number;
  time: number;
}

export interface HeldFuture {
  key: string;
  state: string;
  nbytes: number | null;
  worker: string | null;
  cell: string | null;
}

export interface ClientHoldings {
  client: string;
  kernel_id: string | null;
  notebook: string | null;
  held: number;
  bytes: number;
  futures: HeldFuture[];
}

export interface LogRecord {
  time: number;
  worker: string | null;
  kind: 'log' | 'stdout' | 'stderr' | string;
  level: string | null;
  name: string | null;
  key: string | null;
  text: string;
}

export interface FrameDescription {
  filename: string;
  line_number: number;
  name: string;
  line: string;
}

export interface CallTree {
  description: FrameDescription;
  identifier: string;
  count: number;
  children: { [id: string]: CallTree };
}

export interface StackDump {
  key: string | null;
  thread: string | number;
  frames: FrameDescription[];
}
