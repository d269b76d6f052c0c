// A streamed chat completion: the tokens are shown as they arrive, and the cost comes from the final
// usage chunk. If the stream breaks off first, the user pays for the tokens they got, not the estimate.
//
//   CREDENCE_API_KEY=cr_… OPENAI_BASE_URL=http://127.0.0.1:8788/v1 OPENAI_API_KEY=fake npx tsx examples/chat-stream.ts
//   OPENAI_MODEL=fake-cut-after-5 …   the fake model drops the connection after 5 tokens
import { Credence, InsufficientCreditsError, streamWithCredits } from "@credence/client";
import OpenAI from "openai";
import type { ChatCompletionChunk, ChatCompletionMessageParam } from "openai/resources/chat/completions";

const credence = new Credence({
  baseUrl: process.env.CREDENCE_URL ?? "http://127.0.0.1:8787",
  apiKey: process.env.CREDENCE_API_KEY ?? "",
});
const openai = new OpenAI(); // reads OPENAI_API_KEY and OPENAI_BASE_URL
const userId = process.env.CREDENCE_ACCOUNT ?? "demo-user";
const model = process.env.OPENAI_MODEL ?? "gpt-4o";

const messages: ChatCompletionMessageParam[] = [{ role: "user", content: "Explain how a hold on my credits works." }];
const maxTokens = 200;
const promptChars = messages.reduce((n, m) => n + String(m.content).length, 0);
const estimate = { input_tokens: Math.ceil(promptChars / 4), output_tokens: maxTokens };

const quote = await credence.quote(userId, { operation: "chat.gpt-4o", quantities: estimate });
console.log(`Quote: up to ${quote.cost} credits (affordable: ${quote.affordable ? "yes" : "no"}, ${quote.available} available)`);

// Content chunks delivered so far: one token each, the running count if the stream is cut.
let delivered = 0;
try {
  // The chunk type is given: TypeScript would not infer it from `start`, which comes after the callbacks.
  const stream = await streamWithCredits<ChatCompletionChunk>(
    credence,
    userId,
    {
      operation: "chat.gpt-4o",
      estimate,
      description: "chat (streamed)",
      // The final chunk (stream_options.include_usage) carries the real usage.
      usage: (chunk) => (chunk.usage ? { input_tokens: chunk.usage.prompt_tokens, output_tokens: chunk.usage.completion_tokens } : undefined),
      progress: (chunk) => {
        if (chunk.choices[0]?.delta.content) delivered++;
        return { input_tokens: estimate.input_tokens, output_tokens: delivered };
      },
    },
    ({ signal }) =>
      openai.chat.completions.create(
        { model, messages, max_tokens: maxTokens, stream: true, stream_options: { include_usage: true } },
        { signal },
      ),
  );

  try {
    for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta.content ?? "");
    process.stdout.write("\n");
  } catch (err) {
    console.log(`\nThe stream broke off after ${delivered} tokens: ${(err as Error).message}`);
  }

  // After: the hold was captured (the usage chunk, else the count so far) or released.
  const { cost, usage, complete, capture } = await stream.settled;
  console.log(`Cost: ${cost} credits for ${JSON.stringify(usage)} (${complete ? "complete" : "cut short"})`);
  const balance = capture?.balance ?? (await credence.accounts.get(userId)).balance;
  console.log(`Balance after: ${balance}`);
} catch (err) {
  if (!(err instanceof InsufficientCreditsError)) throw err;
  console.log(`Not enough credits: this needs ${err.required}, ${err.available} available.`);
  process.exitCode = 2;
}
