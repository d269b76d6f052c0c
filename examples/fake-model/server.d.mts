// Types for server.mjs (plain JavaScript, so it runs with bare `node`).

/** The fake's whole reply (to every chat), and its length in tokens (each word is one). */
export const REPLY: string;
export const REPLY_TOKEN_COUNT: number;

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
