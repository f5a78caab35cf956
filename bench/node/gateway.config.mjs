// Hive Gateway CLI configuration used by bench/run.py.
//   HIVE_DEDUP=1 turns on inbound in-flight request deduplication (identical concurrent client
//   requests share one execution; graphql-gateways-benchmark runs Hive Gateway this way).
//   HIVE_UPSTREAM_DEDUP=0 turns off the coalescing of identical in-flight subgraph requests
//   (on by default in Hive Gateway's HTTP transport).
export const gatewayConfig = {
  inboundInflightRequestDeduplication: process.env.HIVE_DEDUP === "1",
  ...(process.env.HIVE_UPSTREAM_DEDUP === "0"
    ? { transportEntries: { "*": { options: { deduplicateInflightRequests: false } } } }
    : {}),
};
