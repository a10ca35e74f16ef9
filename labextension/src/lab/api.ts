/** The REST side of docs/jupyter-api.md, through Jupyter's ServerConnection (token and XSRF handled). */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { SocketLike } from '../core/feed';
import type { Cluster, ProfilesReply, Status } from '../core/types';

/** An HTTP error carrying the server's message (a sentence a person can act on). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

/** Typed calls to {base_url}/jupyter-futures/api/. */
export class FuturesApi {
  readonly settings: ServerConnection.ISettings;

  constructor(settings?: ServerConnection.ISettings) {
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  /** The URL of an API path under {base_url}/jupyter-futures/api/. */
  url(...parts: string[]): string {
    return URLExt.join(this.settings.baseUrl, 'jupyter-futures', 'api', ...parts);
  }

  /** Sends a request and returns its parsed JSON (null for 204); throws ApiError with the server's message. */
  async call<T>(method: string, path: string[], body?: unknown): Promise<T> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(this.url(...path), init, this.settings);
    } catch (err) {
      throw new ApiError(`The Jupyter server did not answer: ${(err as Error).message}`, 0);
    }
    const text = await response.text();
    let data: any = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const message = data?.message || data?.reason || response.statusText || `HTTP ${response.status}`;
      throw new ApiError(String(message), response.status);
    }
    return data as T;
  }

  /** GET status. */
  status(): Promise<Status> {
    return this.call('GET', ['status']);
  }

  /** GET clusters. */
  clusters(): Promise<Cluster[]> {
    return this.call('GET', ['clusters']);
  }

  /** POST clusters: start a cluster from the form's body. */
  createCluster(body: { [k: string]: unknown }): Promise<Cluster> {
    return this.call('POST', ['clusters'], body);
  }

  /** PATCH clusters/{id}: a fixed number of workers. */
  scale(id: string, workers: number): Promise<Cluster> {
    return this.call('PATCH', ['clusters', id], { workers });
  }

  /** PATCH clusters/{id}: adapt between minimum and maximum, or stop adapting with null. */
  adapt(id: string, range: { minimum: number; maximum: number } | null): Promise<Cluster> {
    return this.call('PATCH', ['clusters', id], { adapt: range });
  }

  /** POST clusters/{id}/restart. */
  restart(id: string): Promise<Cluster> {
    return this.call('POST', ['clusters', id, 'restart']);
  }

  /** DELETE clusters/{id}. */
  stop(id: string): Promise<void> {
    return this.call('DELETE', ['clusters', id]);
  }

  /** PUT selection: the cluster new kernels' Client() joins, or null. */
  select(id: string | null): Promise<{ id: string | null }> {
    return this.call('PUT', ['selection'], { id });
  }

  /** GET profiles: named option sets and the options' JSON schema. */
  profiles(): Promise<ProfilesReply> {
    return this.call('GET', ['profiles']);
  }

  /** POST clusters/{id}/workers/{worker}/kernel: start (or find) the worker's kernel. */
  openWorkerKernel(id: string, worker: string): Promise<{ connection_file: string; kernel_id: string | null }> {
    return this.call('POST', ['clusters', id, 'workers', encodeURIComponent(worker), 'kernel']);
  }

  /** A new WebSocket to the live feed, with the token appended as JupyterLab does for kernels. */
  openFeedSocket(): SocketLike {
    let url = URLExt.join(this.settings.wsUrl, 'jupyter-futures', 'api', 'feed');
    const token = this.settings.token;
    if (this.settings.appendToken && token !== '') {
      url += `?token=${encodeURIComponent(token)}`;
    }
    return new this.settings.WebSocket(url) as unknown as SocketLike;
  }
}
