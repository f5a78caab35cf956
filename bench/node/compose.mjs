// Compose subgraphs with @apollo/composition.
// stdin: JSON [{ "name", "url", "sdl" }]; stdout: the supergraph SDL; errors on stderr, exit 1.
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const subgraphs = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const result = composeServices(subgraphs.map((s) => ({ name: s.name, url: s.url, typeDefs: parse(s.sdl) })));
if (result.errors?.length) {
  for (const e of result.errors) console.error(e.message);
  process.exit(1);
}
process.stdout.write(result.supergraphSdl);
