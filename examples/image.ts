// An image generation priced per request (image.generate: a price per image), with the answer a user
// gets when their credits do not cover it.
//
//   CREDENCE_API_KEY=cr_… OPENAI_BASE_URL=http://127.0.0.1:8788/v1 OPENAI_API_KEY=fake npx tsx examples/image.ts
import { Credence, InsufficientCreditsError, withCredits } from "@credence/client";
import OpenAI from "openai";

const credence = new Credence({
  baseUrl: process.env.CREDENCE_URL ?? "http://127.0.0.1:8787",
  apiKey: process.env.CREDENCE_API_KEY ?? "",
});
const openai = new OpenAI(); // reads OPENAI_API_KEY and OPENAI_BASE_URL
const userId = process.env.CREDENCE_ACCOUNT ?? "demo-user";
const n = Number(process.env.IMAGES ?? 1);

// Before: the price is known up front.
const quote = await credence.quote(userId, { operation: "image.generate", quantities: { images: n } });
console.log(`Quote: ${quote.cost} credits for ${n} image(s) (affordable: ${quote.affordable ? "yes" : "no"}, ${quote.available} available)`);

try {
  // Hold the price, generate, then charge for the images that came back: a failed call costs nothing.
  const { result, cost, capture } = await withCredits(
    credence,
    userId,
    { operation: "image.generate", estimate: { images: n }, description: "image" },
    async ({ signal }) => {
      const image = await openai.images.generate({ model: "gpt-image-1", prompt: "A lighthouse made of coins", n }, { signal });
      return { result: image, usage: { images: image.data?.length ?? 0 } };
    },
  );
  const png = Buffer.from(result.data?.[0]?.b64_json ?? "", "base64");
  console.log(`Got ${result.data?.length} image(s); the first is ${png.length} bytes of PNG`);
  console.log(`Cost: ${cost} credits. Balance after: ${capture.balance} (${capture.available} available)`);
} catch (err) {
  // The hold is refused before the model is called; show the user what they need.
  if (!(err instanceof InsufficientCreditsError)) throw err;
  console.log(`Not enough credits: ${n} image(s) need ${err.required} credits, you have ${err.available}. Top up to continue.`);
  process.exitCode = 2;
}
