/** The IPC protocol between the primary and its workers. */
export type WorkerMessage = { readonly type: 'ready'; readonly port: number };
export type PrimaryMessage = { readonly type: 'drain' };
