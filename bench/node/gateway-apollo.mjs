// @apollo/gateway behind @apollo/server's standalone HTTP server, one process.
// Env: SUPERGRAPH (path), HOST, PORT. Serves every path (the runner uses /graphql).
import { readFileSync } from "node:fs";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { ApolloGateway } from "@apollo/gateway";

const supergraphSdl = readFileSync(process.env.SUPERGRAPH, "utf8");
const server = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl }) });
const { url } = await startStandaloneServer(server, {
  listen: { host: process.env.HOST ?? "127.0.0.1", port: Number(process.env.PORT ?? 4000) },
});
console.log(`apollo-gateway listening on ${url}`);
