// A Node.js client of the EdgeFleet router, used by tests/e2e/test_node_client.py.
//
// It loads the .proto files with @grpc/proto-loader, the proto root (protos/) as its only include
// directory, exactly as any grpc-js application would, and calls edgefleet.v1.Router/Infer and
// edgefleet.v1.Fleet/GetFleet. Usage: node router_client.js PROTO_ROOT ADDRESS API_KEY TEXT
// Prints one JSON object: the answers and the status codes of the calls meant to fail.
"use strict";

const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const [protoRoot, address, apiKey, text] = process.argv.slice(2);
const DEADLINE_MS = 10000;

const definition = protoLoader.loadSync(["edgefleet/v1/router.proto", "edgefleet/v1/fleet.proto"], {
  includeDirs: [protoRoot],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const v1 = grpc.loadPackageDefinition(definition).edgefleet.v1;
const credentials = grpc.credentials.createInsecure();
const router = new v1.Router(address, credentials);
const fleet = new v1.Fleet(address, credentials);

function deadline() {
  return new Date(Date.now() + DEADLINE_MS);
}

function auth(key) {
  const metadata = new grpc.Metadata();
  if (key) metadata.add("authorization", `Bearer ${key}`);
  return metadata;
}

// Resolves to {ok, value} or {ok: false, code: "INVALID_ARGUMENT", details}.
function call(client, method, request, metadata) {
  return new Promise((resolve) => {
    client[method](request, metadata, { deadline: deadline() }, (error, value) => {
      if (error) resolve({ ok: false, code: grpc.status[error.code], details: error.details });
      else resolve({ ok: true, value });
    });
  });
}

async function main() {
  const infer = await call(router, "Infer", { task: "classify", text }, auth(apiKey));
  const badInput = await call(router, "Infer", { task: "classify", text: "" }, auth(apiKey));
  const wrongKey = await call(router, "Infer", { task: "classify", text }, auth("not-the-key"));
  const snapshot = await call(fleet, "GetFleet", {}, auth(apiKey));
  router.close();
  fleet.close();
  process.stdout.write(JSON.stringify({ infer, badInput, wrongKey, snapshot }) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
