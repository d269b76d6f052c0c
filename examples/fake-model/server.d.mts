// Types for server.mjs (plain JavaScript, so it runs with bare `node`).

export interface FakeModel {
  /** e.g. http://127.0.0.1:41234 (no trailing /v1) */
  url: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Starts the fake model server; `port` 0 or omitted picks a free one. */
export function startFakeModel(options?: { port?: number; host?: string }): Promise<FakeModel>;

/** Prompt tokens as the fake counts them: ceil(characters / 4) of each message's text, summed. */
export function countPromptTokens(messages: unknown): number;
