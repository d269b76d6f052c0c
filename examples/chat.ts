// A chat completion metered by tokens: quote it, hold the estimate, call the model, charge what it used.
//
//   CREDENCE_API_KEY=cr_… OPENAI_BASE_URL=http://127.0.0.1:8788/v1 OPENAI_API_KEY=fake npx tsx examples/chat.ts
import { Credence, InsufficientCreditsError, withCredits } from "@credence/client";
import OpenAI from "openai";
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";

const credence = new Credence({
  baseUrl: process.env.CREDENCE_URL ?? "http://127.0.0.1:8787",
  apiKey: process.env.CREDENCE_API_KEY ?? "",
});
const openai = new OpenAI(); // reads OPENAI_API_KEY and OPENAI_BASE_URL
const userId = process.env.CREDENCE_ACCOUNT ?? "demo-user";

const messages: ChatCompletionMessageParam[] = [
  { role: "system", content: "You explain billing in one sentence." },
  { role: "user", content: "What happens to my credits when I ask you something?" },
];
const maxTokens = 200;

// Hold enough for the prompt (about 4 characters a token) and the longest answer allowed.
const promptChars = messages.reduce((n, m) => n + String(m.content).length, 0);
const estimate = { input_tokens: Math.ceil(promptChars / 4), output_tokens: maxTokens };

// Before: what it may cost, and whether the user can pay for it.
const quote = await credence.quote(userId, { operation: "chat.gpt-4o", quantities: estimate });
console.log(`Quote: up to ${quote.cost} credits (affordable: ${quote.affordable ? "yes" : "no"}, ${quote.available} available)`);

try {
  const { result, cost, capture } = await withCredits(
    credence,
    userId,
    { operation: "chat.gpt-4o", estimate, description: "chat" },
    async ({ signal }) => {
      const completion = await openai.chat.completions.create({ model: "gpt-4o", messages, max_tokens: maxTokens }, { signal });
      const usage = completion.usage!;
      return { result: completion, usage: { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens } };
    },
  );
  console.log(`Reply: ${result.choices[0]?.message.content}`);
  // After: what it did cost (the unused part of the hold went back), and what is left.
  const { prompt_tokens, completion_tokens } = result.usage!;
  console.log(`Cost: ${cost} credits (${prompt_tokens} input tokens, ${completion_tokens} output tokens)`);
  console.log(`Balance after: ${capture.balance} (${capture.available} available)`);
} catch (err) {
  if (!(err instanceof InsufficientCreditsError)) throw err;
  console.log(`Not enough credits: this needs ${err.required}, ${err.available} available.`);
  process.exitCode = 2;
}
